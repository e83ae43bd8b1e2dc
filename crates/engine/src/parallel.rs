//! Disjoint writes from several threads into one output slice.
//!
//! The thread pool hands each thread index ranges claimed from a shared counter, so the ranges a
//! matmul or attention task writes never overlap — but the borrow checker cannot see that
//! through a dynamic scheduler. This wrapper is the one place that relies on it.

use std::marker::PhantomData;
use std::ops::Range;

pub struct DisjointMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: DisjointMut only hands out sub-slices through `range`, whose contract makes callers
// use non-overlapping ranges, so sharing it between threads is like splitting a &mut [T].
unsafe impl<T: Send> Sync for DisjointMut<'_, T> {}
unsafe impl<T: Send> Send for DisjointMut<'_, T> {}

impl<'a, T> DisjointMut<'a, T> {
    pub fn new(slice: &'a mut [T]) -> Self {
        DisjointMut { ptr: slice.as_mut_ptr(), len: slice.len(), _borrow: PhantomData }
    }

    /// The sub-slice `r`.
    ///
    /// # Safety
    /// No two live slices obtained from this value may overlap: each index range must be claimed
    /// by exactly one thread (as the pool's chunking guarantees).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len, "range {r:?} outside 0..{}", self.len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_ranges_from_threads() {
        let mut v = vec![0u32; 1000];
        let d = DisjointMut::new(&mut v);
        std::thread::scope(|s| {
            for t in 0..4 {
                let d = &d;
                s.spawn(move || {
                    // SAFETY: thread t owns indices [t*250, (t+1)*250).
                    let part = unsafe { d.range(t * 250..(t + 1) * 250) };
                    part.iter_mut().for_each(|x| *x = t as u32 + 1);
                });
            }
        });
        for (i, x) in v.iter().enumerate() {
            assert_eq!(*x, (i / 250) as u32 + 1);
        }
    }

    #[test]
    #[should_panic]
    fn out_of_bounds_range_panics() {
        let mut v = vec![0u8; 4];
        let d = DisjointMut::new(&mut v);
        // SAFETY: single thread; the call must panic on the bounds check before any access.
        let _ = unsafe { d.range(2..5) };
    }
}
