//! Scalar reference implementations: the truth every SIMD kernel is tested against.
