//! One persistent worker thread, so a kernel can split its work in two
//! without spawning per call.
//!
//! [`join`] runs one half on the worker and the other on the caller, then
//! waits for both. The worker spins briefly before sleeping, because the
//! kernels worth splitting take tens to hundreds of microseconds and a cold
//! wake-up costs about as much. If another caller holds the worker, both
//! halves run on the calling thread: the split (and so the result) is the
//! same either way. A caller that finishes its half before the worker has
//! picked up the other takes that half back, so a busy machine degrades to
//! one thread instead of waiting for a core.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A job handed to the worker: a type-erased pointer to a closure on the
/// caller's stack, valid until the caller has seen `DONE`.
struct Job(*const (dyn Fn() + Sync));
// SAFETY: the closure is `Sync` and the caller keeps it alive until the worker
// reports completion.
unsafe impl Send for Job {}

const IDLE: usize = 0;
const READY: usize = 1;
const RUNNING: usize = 2;
const DONE: usize = 3;

struct Worker {
    state: AtomicUsize,
    job: Mutex<Option<Job>>,
    wake: Condvar,
    /// Held by the caller that owns the worker for one `join`.
    owner: Mutex<()>,
}

fn worker() -> &'static Worker {
    static W: OnceLock<&'static Worker> = OnceLock::new();
    W.get_or_init(|| {
        let w: &'static Worker = Box::leak(Box::new(Worker {
            state: AtomicUsize::new(IDLE),
            job: Mutex::new(None),
            wake: Condvar::new(),
            owner: Mutex::new(()),
        }));
        std::thread::Builder::new()
            .name("nn-jit-worker".into())
            .spawn(move || run_worker(w))
            .expect("spawning the JIT worker thread");
        w
    })
}

fn run_worker(w: &'static Worker) {
    loop {
        // Between the splits of one step the next job comes within tens of
        // microseconds; yielding while spinning leaves the core to others.
        let spin_until = Instant::now() + Duration::from_micros(50);
        while w.state.load(Ordering::Acquire) != READY && Instant::now() < spin_until {
            std::thread::yield_now();
        }
        let job = {
            let mut slot = w.job.lock().unwrap_or_else(|e| e.into_inner());
            while w.state.load(Ordering::Acquire) != READY {
                slot = w.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            // The caller may have taken the job back meanwhile.
            if w.state.compare_exchange(READY, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            slot.take()
        };
        if let Some(Job(f)) = job {
            let _ftz = FlushDenormals::enable();
            // SAFETY: see `Job`.
            unsafe { (*f)() };
        }
        w.state.store(DONE, Ordering::Release);
    }
}

thread_local! {
    /// Set while this thread runs a call that was measured faster on one
    /// core (see `split_choice`).
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs every [`join`] on this thread serially until the guard drops.
pub(super) struct SerialScope {
    saved: bool,
}

impl SerialScope {
    pub(super) fn enter(serial: bool) -> SerialScope {
        SerialScope { saved: SERIAL.with(|s| s.replace(serial)) }
    }
}

impl Drop for SerialScope {
    fn drop(&mut self) {
        SERIAL.with(|s| s.set(self.saved));
    }
}

/// Runs `a` and `b`, in parallel when the worker is free.
pub fn join(a: &(dyn Fn() + Sync), b: &(dyn Fn() + Sync)) {
    if SERIAL.with(Cell::get) {
        a();
        b();
        return;
    }
    let w = worker();
    let Ok(_owner) = w.owner.try_lock() else {
        a();
        b();
        return;
    };
    {
        let mut slot = w.job.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: erase the lifetime; we wait for DONE before returning.
        let erased: *const (dyn Fn() + Sync) = unsafe { std::mem::transmute(a as *const (dyn Fn() + Sync)) };
        *slot = Some(Job(erased));
        w.state.store(READY, Ordering::Release);
        w.wake.notify_one();
    }
    b();
    // If the worker has not started yet (its core is busy elsewhere), run
    // the other half here rather than wait for it.
    if w.state.compare_exchange(READY, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        w.job.lock().unwrap_or_else(|e| e.into_inner()).take();
        a();
        return;
    }
    while w.state.load(Ordering::Acquire) != DONE {
        std::thread::yield_now();
    }
    w.state.store(IDLE, Ordering::Release);
}

/// Flush-to-zero and denormals-are-zero for the duration of a step, as XLA
/// does on CPU: a training run that drives gradients towards zero would
/// otherwise hit subnormal arithmetic, which is ~100× slower on x86. The
/// caller's floating-point mode is restored on drop.
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    #[allow(deprecated)]
    pub fn enable() -> FlushDenormals {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            const FTZ: u32 = 1 << 15;
            const DAZ: u32 = 1 << 6;
            // SAFETY: SSE is baseline on x86_64; only the FTZ/DAZ bits change.
            let saved = unsafe { _mm_getcsr() };
            unsafe { _mm_setcsr(saved | FTZ | DAZ) };
            FlushDenormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            FlushDenormals {}
        }
    }
}

impl Drop for FlushDenormals {
    #[allow(deprecated)]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the mode read in `enable`.
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved)
        };
    }
}
