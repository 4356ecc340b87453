//! Docker sandboxes: under construction.
