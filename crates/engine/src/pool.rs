//! A persistent thread pool: one parallel region per op, no allocation per region.
//!
//! The calling thread is worker 0 and always takes part. Workers spin for a short while after
//! a region ends (the next op usually starts within microseconds) and then park on a condvar,
//! so an idle engine does not burn a core.
//!
//! A region is *open* while the caller runs its own share of the job; a worker runs the job
//! only if it joins while the region is open. Jobs therefore take their work dynamically (a
//! shared counter, as [`ThreadPool::parallel_for`] does), and the caller never waits for a
//! worker that has not started: when another process holds a core and a worker is not
//! scheduled, the caller does all the work instead of stalling a time slice per region (which
//! made 2-thread decoding 10x slower than 1 thread on a loaded machine). The job is a borrowed
//! `&dyn Fn`, valid because `run` does not return until every worker that joined has finished.

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
    /// The current region's job, set by `run` before the region opens.
    job: UnsafeCell<Option<*const Job>>,
    /// 2 * region number, plus 1 while that region is open. Only ever increases.
    region: AtomicUsize,
    /// Workers that have joined (or are checking whether they may join) the current region.
    joined: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the thread inside `run`, while no worker can read it: before
// the region opens, and after it closed and `joined` reached zero. A worker reads it only after
// incrementing `joined` and then seeing the region still open (SeqCst), so the caller's wait
// for `joined == 0` covers every read. The job itself is Sync.
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
            region: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
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

    /// Runs `f(thread_id, n_threads)` on the calling thread (id 0) and on every worker that
    /// joins while the caller's call is running, at most once each, and waits for all of
    /// them. `f` must claim its work dynamically: a worker may not take part at all.
    pub fn run(&self, f: &(dyn Fn(usize, usize) + Sync)) {
        let s = &*self.shared;
        if s.n_threads == 1 {
            f(0, 1);
            return;
        }
        assert!(!self.busy.swap(true, Acquire), "ThreadPool::run is not reentrant");
        // SAFETY: the lifetime is erased only for the duration of this call: we wait below
        // until every worker that joined has left, after which none touches the pointer.
        let ptr: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), &'static Job>(f) };
        // SAFETY: no worker reads `job` now: the previous region closed with joined == 0.
        unsafe { *s.job.get() = Some(ptr) };
        let open = s.region.load(SeqCst) + 1;
        s.region.store(open, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            // Taking the lock orders this notify after any worker's check-then-wait.
            drop(s.lock.lock().unwrap_or_else(|e| e.into_inner()));
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0, s.n_threads)));
        s.region.store(open + 1, SeqCst);
        let mut spins = 0u32;
        while s.joined.load(SeqCst) != 0 {
            spins += 1;
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: every worker that joined is done with the job; later ones will not join.
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
    // Engine threads count their allocations when a counting allocator is installed.
    crate::alloc_count::count_this_thread();
    let mut seen = 0usize;
    loop {
        // Wait for an open region we have not taken part in.
        let mut spins = 0u32;
        let open = loop {
            let r = s.region.load(Acquire);
            if r & 1 == 1 && r != seen {
                break r;
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
            loop {
                let r = s.region.load(SeqCst);
                if (r & 1 == 1 && r != seen) || s.shutdown.load(SeqCst) {
                    break;
                }
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleepers.fetch_sub(1, SeqCst);
            spins = 0;
        };
        seen = open;
        // Join, then check the region is still the one we saw open; if it closed meanwhile,
        // the caller may already be past its wait and the job gone: leave without touching it.
        s.joined.fetch_add(1, SeqCst);
        if s.region.load(SeqCst) == open {
            // SAFETY: the region is open and we are counted in `joined`, so `run` has set
            // `job` for this region and keeps the closure alive until we decrement `joined`.
            let job = unsafe { (*s.job.get()).expect("job set before the region opens") };
            // SAFETY: see above; the pointer targets a live `&dyn Fn + Sync`.
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(tid, s.n_threads) }));
            if r.is_err() {
                s.panicked.store(true, SeqCst);
            }
        }
        s.joined.fetch_sub(1, SeqCst);
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

    /// Keeps the region open (the caller's share running) until `n` threads have arrived, so
    /// every worker joins; gives up after a few seconds rather than hang.
    fn wait_for_all(count: &AtomicUsize, n: usize) {
        let t = std::time::Instant::now();
        while count.load(SeqCst) < n && t.elapsed().as_secs() < 5 {
            std::thread::yield_now();
        }
    }

    #[test]
    fn each_thread_runs_at_most_once_per_region_and_all_can_join() {
        for n in [1, 2, 3, 5] {
            let pool = ThreadPool::new(n);
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                let arrived = AtomicUsize::new(0);
                pool.run(&|tid, nt| {
                    assert_eq!(nt, n);
                    hits[tid].fetch_add(1, Relaxed);
                    arrived.fetch_add(1, SeqCst);
                    if tid == 0 {
                        wait_for_all(&arrived, n);
                    }
                });
                assert!(hits.iter().all(|h| h.load(Relaxed) == 1));
            }
            // Without waiting, the caller alone may do the job, and nobody runs it twice.
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(&|tid, _| {
                    hits[tid].fetch_add(1, Relaxed);
                });
                assert_eq!(hits[0].load(Relaxed), 1);
                assert!(hits.iter().all(|h| h.load(Relaxed) <= 1));
            }
        }
    }

    #[test]
    fn parallel_for_completes_while_a_worker_is_descheduled() {
        // More busy threads than cores: the pool's workers are often not running when a
        // region opens; every region must still finish with all its work done.
        let stop = AtomicBool::new(false);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    while !stop.load(Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            }
            let pool = ThreadPool::new(2);
            let t = std::time::Instant::now();
            for _ in 0..2000 {
                let sum = AtomicUsize::new(0);
                pool.parallel_for(64, 4, &|s, e| {
                    sum.fetch_add(e - s, Relaxed);
                });
                assert_eq!(sum.load(Relaxed), 64);
            }
            stop.store(true, Relaxed);
            eprintln!("2000 regions with 4 competing spinners: {:?}", t.elapsed());
        });
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
        pool.run(&|tid, _| {
            count.fetch_add(1, SeqCst);
            if tid == 0 {
                wait_for_all(&count, 2);
            }
        });
        assert_eq!(count.load(Relaxed), 2);
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let pool = ThreadPool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let arrived = AtomicUsize::new(0);
            pool.run(&|tid, _| {
                arrived.fetch_add(1, SeqCst);
                if tid == 1 {
                    panic!("boom");
                }
                wait_for_all(&arrived, 2);
            })
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        let count = AtomicUsize::new(0);
        pool.run(&|tid, _| {
            count.fetch_add(1, SeqCst);
            if tid == 0 {
                wait_for_all(&count, 2);
            }
        });
        assert_eq!(count.load(Relaxed), 2);
    }

    #[test]
    fn default_threads_is_at_least_one() {
        assert!(default_threads() >= 1);
    }
}
