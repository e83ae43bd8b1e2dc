//! A persistent thread pool: one parallel region per op, no allocation per region.
//!
//! The calling thread is worker 0 and always takes part. Workers spin for a short while after
//! a region ends (the next op usually starts within microseconds) and then park on a condvar,
//! so an idle engine does not burn a core. A region is published by bumping an epoch counter;
//! the job is a borrowed `&dyn Fn`, valid because `run` does not return until every worker has
//! finished with it.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Spin iterations before a worker parks (a few tens of microseconds).
const SPIN_ITERS: u32 = 1 << 15;

type Job = dyn Fn(usize, usize) + Sync;

struct Shared {
    n_threads: usize,
    /// The current region's job, set by `run` before `epoch` is bumped.
    job: UnsafeCell<Option<*const Job>>,
    epoch: AtomicUsize,
    /// Workers (not counting the caller) still inside the current region.
    pending: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the thread inside `run` while no worker reads it (before the
// epoch bump that publishes it, and after `pending` reaches zero); workers read it only between
// observing the new epoch (Acquire) and decrementing `pending` (Release). The job itself is Sync.
unsafe impl Sync for Shared {}
// SAFETY: the raw job pointer is only dereferenced under the protocol above.
unsafe impl Send for Shared {}

pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// `run` is not reentrant; this catches nested use instead of deadlocking.
    busy: AtomicBool,
}

impl ThreadPool {
    /// A pool of `n_threads` threads in total, the caller included.
    pub fn new(n_threads: usize) -> ThreadPool {
        let n_threads = n_threads.max(1);
        let shared = Arc::new(Shared {
            n_threads,
            job: UnsafeCell::new(None),
            epoch: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let workers = (1..n_threads)
            .map(|tid| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("vibrant-{tid}"))
                    .spawn(move || worker(&s, tid))
                    .expect("spawn worker thread")
            })
            .collect();
        ThreadPool { shared, workers, busy: AtomicBool::new(false) }
    }

    pub fn n_threads(&self) -> usize {
        self.shared.n_threads
    }

    /// Runs `f(thread_id, n_threads)` once on every thread of the pool and waits for all.
    pub fn run(&self, f: &(dyn Fn(usize, usize) + Sync)) {
        let s = &*self.shared;
        if s.n_threads == 1 {
            f(0, 1);
            return;
        }
        assert!(!self.busy.swap(true, Acquire), "ThreadPool::run is not reentrant");
        // SAFETY: the lifetime is erased only for the duration of this call: we wait below
        // until every worker has decremented `pending`, after which none touches the pointer.
        let ptr: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), &'static Job>(f) };
        // SAFETY: no worker reads `job` now: the previous region ended with pending == 0.
        unsafe { *s.job.get() = Some(ptr) };
        s.pending.store(s.n_threads - 1, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            // Taking the lock orders this notify after any worker's check-then-wait.
            drop(s.lock.lock().unwrap_or_else(|e| e.into_inner()));
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0, s.n_threads)));
        let mut spins = 0u32;
        while s.pending.load(Acquire) != 0 {
            spins += 1;
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: every worker is done with the job.
        unsafe { *s.job.get() = None };
        self.busy.store(false, Release);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.swap(false, SeqCst) {
            panic!("a thread-pool worker panicked");
        }
    }

    /// Splits `0..n` into chunks of `chunk` and hands them out dynamically: each thread takes
    /// the next unclaimed chunk until none is left. `f(start, end)` runs once per chunk.
    pub fn parallel_for(&self, n: usize, chunk: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        let chunk = chunk.max(1);
        if n == 0 {
            return;
        }
        if self.shared.n_threads == 1 || n <= chunk {
            let mut s = 0;
            while s < n {
                f(s, (s + chunk).min(n));
                s += chunk;
            }
            return;
        }
        let next = AtomicUsize::new(0);
        self.run(&|_, _| loop {
            let s = next.fetch_add(chunk, Relaxed);
            if s >= n {
                break;
            }
            f(s, (s + chunk).min(n));
        });
    }
}

fn worker(s: &Shared, tid: usize) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        loop {
            let e = s.epoch.load(Acquire);
            if e != seen {
                seen = e;
                break;
            }
            if s.shutdown.load(Acquire) {
                return;
            }
            spins += 1;
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
                continue;
            }
            let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_add(1, SeqCst);
            while s.epoch.load(SeqCst) == seen && !s.shutdown.load(SeqCst) {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleepers.fetch_sub(1, SeqCst);
            spins = 0;
        }
        if s.shutdown.load(Acquire) {
            return;
        }
        // SAFETY: the epoch bump (Acquire above) published `job`, and `run` keeps the closure
        // alive until we decrement `pending`.
        let job = unsafe { (*s.job.get()).expect("job set before epoch bump") };
        // SAFETY: see above; the pointer targets a live `&dyn Fn + Sync`.
        let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(tid, s.n_threads) }));
        if r.is_err() {
            s.panicked.store(true, SeqCst);
        }
        s.pending.fetch_sub(1, Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        drop(self.shared.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The default thread count: physical cores (hyper-threads share the FMA units and the memory
/// bandwidth that bounds decoding, so they rarely help), as llama.cpp picks.
pub fn default_threads() -> usize {
    let logical = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    physical_cores().unwrap_or(logical).clamp(1, logical)
}

/// Counts distinct (physical id, core id) pairs in /proc/cpuinfo.
fn physical_cores() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mut cores = std::collections::HashSet::new();
    let (mut phys, mut core) = (None, None);
    for line in info.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let (Some(p), Some(c)) = (phys.take(), core.take()) {
                cores.insert((p, c));
            }
            continue;
        }
        let (k, v) = line.split_once(':')?;
        match k.trim() {
            "physical id" => phys = Some(v.trim().to_string()),
            "core id" => core = Some(v.trim().to_string()),
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_once_per_region() {
        for n in [1, 2, 3, 5] {
            let pool = ThreadPool::new(n);
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(&|tid, nt| {
                    assert_eq!(nt, n);
                    hits[tid].fetch_add(1, Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Relaxed) == 1));
            }
        }
    }

    #[test]
    fn parallel_for_covers_each_index_exactly_once() {
        let pool = ThreadPool::new(3);
        for (n, chunk) in [(0, 4), (1, 4), (10, 3), (1000, 7), (64, 64), (65, 64)] {
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.parallel_for(n, chunk, &|s, e| {
                assert!(s < e && e <= n && e - s <= chunk);
                for i in s..e {
                    seen[i].fetch_add(1, Relaxed);
                }
            });
            assert!(seen.iter().all(|c| c.load(Relaxed) == 1), "n={n} chunk={chunk}");
        }
    }

    #[test]
    fn workers_wake_after_parking() {
        let pool = ThreadPool::new(2);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let count = AtomicUsize::new(0);
        pool.run(&|_, _| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 2);
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let pool = ThreadPool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(&|tid, _| {
                if tid == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        let count = AtomicUsize::new(0);
        pool.run(&|_, _| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 2);
    }

    #[test]
    fn default_threads_is_at_least_one() {
        assert!(default_threads() >= 1);
    }
}
