//! SIMD kernels, one module per architecture, computing exactly what `reference` computes.
