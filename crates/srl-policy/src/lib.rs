//! The candle policy: under construction.
