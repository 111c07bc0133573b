//! Ranks as threads of one process: the same collectives as MPI over shared
//! memory, so data-parallel training can be tested (and compared with one
//! process) without a launcher.

use std::sync::{Arc, Barrier, Mutex, PoisonError};

use super::{local_host_name, sum_in_rank_order, Communicator};

struct Shared {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f32>>>,
    bytes: Mutex<Vec<u8>>,
}

/// One rank of a group of threads; make the group with [`ThreadGroup::new`]
/// and move one member into each thread.
pub struct ThreadGroup {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl ThreadGroup {
    /// `size` members sharing one set of buffers, rank 0 first.
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            barrier: Barrier::new(size),
            slots: Mutex::new(vec![Vec::new(); size]),
            bytes: Mutex::new(Vec::new()),
        });
        (0..size).map(|rank| ThreadGroup { rank, size, shared: shared.clone() }).collect()
    }
}

impl Communicator for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) {
        self.shared.slots.lock().unwrap_or_else(PoisonError::into_inner)[self.rank] = buf.to_vec();
        self.shared.barrier.wait();
        {
            let slots = self.shared.slots.lock().unwrap_or_else(PoisonError::into_inner);
            sum_in_rank_order(slots.iter().map(Vec::as_slice), buf);
        }
        // Nobody deposits the next buffer before everyone has read this one.
        self.shared.barrier.wait();
    }

    fn broadcast(&self, buf: &mut Vec<u8>) {
        if self.rank == 0 {
            *self.shared.bytes.lock().unwrap_or_else(PoisonError::into_inner) = buf.clone();
        }
        self.shared.barrier.wait();
        if self.rank != 0 {
            buf.clone_from(&self.shared.bytes.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self.shared.barrier.wait();
    }

    fn barrier(&self) {
        self.shared.barrier.wait();
    }

    fn host_name(&self) -> String {
        local_host_name()
    }
}
