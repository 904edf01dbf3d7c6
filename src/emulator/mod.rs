//! The Kraken emulator and the synthetic account generator.
