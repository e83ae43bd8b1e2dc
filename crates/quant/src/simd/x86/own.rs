//! The driver shared by our own-order batched kernels ([`super::rows8`], [`super::rows16`],
//! [`super::rows16k`]): which rows and tokens go to the interleaved panels, which to the exact
//! (llama.cpp-order) kernel, and the passes over the tokens.

use crate::kernels::{as_blocks, GemmFn};

/// How a kernel cuts the product.
pub(super) struct Shape {
    /// Weight rows per panel (one per lane).
    pub rows: usize,
    /// Tokens per group (the panel kernel's accumulators).
    pub tokens: usize,
    /// Tokens prepared per pass; each pass decodes every panel once.
    pub pass: usize,
    /// Longest row, in blocks, that the kernel's stack buffers take.
    pub max_blocks: usize,
    /// Elements per weight block.
    pub block: usize,
}

/// `out[c * stride + r] = w row r . x row c`: whole panels of `s.rows` rows x whole groups of
/// `s.tokens` tokens by `panel`, the leftover rows and tokens by `exact`; rows longer than
/// `s.max_blocks` blocks, fewer rows than a panel or tokens than a group all by `exact`.
///
/// Each pass turns its tokens' blocks into `T` by `prep`, into `tbs` (token-major, `nb` per
/// token; at least `s.pass * s.max_blocks` long). `panel(rows, nb, xs, tbs, out)` then gets
/// one panel's rows (row-major, `nb` blocks each), the pass's token blocks and their `T`s, and
/// `out` from the panel's first row of the pass's first token (stride unchanged).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm<W: bytemuck::Pod, X: bytemuck::Pod, T: Copy>(
    s: &Shape,
    n: usize,
    w: &[u8],
    nr: usize,
    x: &[u8],
    nc: usize,
    out: &mut [f32],
    stride: usize,
    exact: GemmFn,
    tbs: &mut [T],
    prep: impl Fn(&X) -> T,
    mut panel: impl FnMut(&[W], usize, &[X], &[T], &mut [f32]),
) {
    let nb = n / s.block;
    if nc < s.tokens || nr < s.rows || nb > s.max_blocks || nb * s.block != n {
        return exact(n, w, nr, x, nc, out, stride);
    }
    let (wrb, xrb) = (nb * std::mem::size_of::<W>(), nb * std::mem::size_of::<X>());
    assert_eq!(w.len(), nr * wrb, "gemm: weight bytes for {nr} rows of {n}");
    assert_eq!(x.len(), nc * xrb, "gemm: activation bytes for {nc} rows of {n}");
    assert!(out.len() >= (nc - 1) * stride + nr, "gemm: output too small");
    assert!(tbs.len() >= s.pass * s.max_blocks, "gemm: token scratch too small");
    let (wb, xb) = (as_blocks::<W>(w), as_blocks::<X>(x));
    let (nr_p, nc_g) = (nr - nr % s.rows, nc - nc % s.tokens);
    let mut c0 = 0;
    while c0 < nc_g {
        let pass = s.pass.min(nc_g - c0);
        let xs = &xb[c0 * nb..(c0 + pass) * nb];
        for (t, xbk) in tbs[..pass * nb].iter_mut().zip(xs) {
            *t = prep(xbk);
        }
        for r0 in (0..nr_p).step_by(s.rows) {
            panel(&wb[r0 * nb..(r0 + s.rows) * nb], nb, xs, &tbs[..pass * nb], &mut out[c0 * stride + r0..]);
        }
        c0 += pass;
    }
    if nr_p < nr {
        // The last rows for the grouped tokens, into a shifted view of the output.
        exact(n, &w[nr_p * wrb..], nr - nr_p, &x[..nc_g * xrb], nc_g, &mut out[nr_p..], stride);
    }
    if nc_g < nc {
        exact(n, w, nr, &x[nc_g * xrb..], nc - nc_g, &mut out[nc_g * stride..], stride);
    }
}
