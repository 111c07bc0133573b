//! The arena that holds every intermediate of a step.
//!
//! Buffer sizes depend on the batch size, so offsets are planned the first
//! time a batch size is seen (first-fit over liveness intervals from the
//! kernel plan) and cached; the storage only grows. After that a step does
//! no allocation. Every buffer starts on a 64-byte boundary.

use super::plan::{BufKind, Plan};
use std::collections::HashMap;

const ALIGN: usize = 64;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; ALIGN]);

struct Layout {
    offsets: Vec<usize>,
    total: usize,
}

pub struct Arena {
    layouts: HashMap<usize, Layout>,
    storage: Vec<Line>,
    current: usize,
}

impl Arena {
    pub fn new(_plan: &Plan) -> Arena {
        Arena { layouts: HashMap::new(), storage: Vec::new(), current: 0 }
    }

    /// Makes the arena ready for `batch`; fails (instead of aborting) when
    /// the intermediates do not fit in memory.
    pub fn prepare(&mut self, plan: &Plan, batch: usize) -> Result<(), String> {
        self.current = batch;
        let total = match self.layouts.get(&batch) {
            Some(l) => l.total,
            None => {
                let l = layout(plan, batch);
                let t = l.total;
                self.layouts.insert(batch, l);
                t
            }
        };
        let lines = total.div_ceil(ALIGN).max(1);
        if self.storage.len() < lines {
            let mut fresh: Vec<Line> = Vec::new();
            fresh.try_reserve_exact(lines).map_err(|_| {
                format!("the intermediates need {total} bytes at batch size {batch}, which cannot be allocated: use a smaller batch")
            })?;
            fresh.resize(lines, Line([0; ALIGN]));
            self.storage = fresh;
        }
        Ok(())
    }

    /// Base pointer of arena buffer `slot` for the prepared batch size.
    pub fn pointer(&mut self, slot: usize) -> *mut u8 {
        let off = self.layouts[&self.current].offsets[slot];
        // SAFETY: offsets lie inside the storage sized in `prepare`.
        unsafe { (self.storage.as_mut_ptr() as *mut u8).add(off) }
    }

    /// Bytes the arena uses at `batch` (for the docs and tests).
    pub fn bytes_for(plan: &Plan, batch: usize) -> usize {
        layout(plan, batch).total
    }
}

fn layout(plan: &Plan, batch: usize) -> Layout {
    let mut order: Vec<usize> = (0..plan.bufs.len())
        .filter(|&b| plan.bufs[b].kind == BufKind::Arena && plan.bufs[b].def != usize::MAX)
        .collect();
    order.sort_by_key(|&b| (plan.bufs[b].def, b));
    let mut offsets = vec![0usize; plan.bufs.len()];
    // (offset, size, last_use) of buffers placed so far and still live.
    let mut live: Vec<(usize, usize, usize)> = Vec::new();
    let mut total = 0;
    for b in order {
        let buf = &plan.bufs[b];
        let size = buf.numel.eval(batch).saturating_mul(4).div_ceil(ALIGN).max(1).saturating_mul(ALIGN);
        // A buffer read by kernel k may be reused by one written after k.
        live.retain(|&(_, _, end)| end >= buf.def);
        live.sort_unstable();
        let mut at: usize = 0;
        for &(off, sz, _) in &live {
            if off >= at.saturating_add(size) {
                break;
            }
            at = at.max(off.saturating_add(sz));
        }
        offsets[b] = at;
        total = total.max(at.saturating_add(size));
        live.push((at, size, buf.last_use.max(buf.def)));
    }
    Layout { offsets, total }
}
