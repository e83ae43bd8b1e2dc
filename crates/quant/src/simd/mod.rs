//! SIMD kernels, one module per architecture, computing exactly what `reference` computes.
//! Each level starts from the scalar table and replaces the entries it accelerates, so a type
//! without a SIMD kernel still works (at reference speed).

use crate::kernels::Kernels;

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
            return Some(k);
        }
    }
    let _ = base;
    None
}

/// The NEON table, or None when the build target is not aarch64.
pub fn neon_table(base: Kernels) -> Option<Kernels> {
    #[cfg(target_arch = "aarch64")]
    {
        let mut k = base;
        k.level = crate::kernels::Level::Neon;
        return Some(k);
    }
    #[allow(unreachable_code)]
    {
        let _ = base;
        None
    }
}
