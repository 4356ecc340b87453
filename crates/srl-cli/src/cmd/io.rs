//! Input and output helpers: `-` for stdin/stdout.
