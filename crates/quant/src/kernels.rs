//! The kernel table: for each block type, its kernels, chosen once at load.
