//! The keeper's memory allocator: jemalloc, tuned for the memory budget.
//!
//! glibc's malloc/free took about a sixth of the keeper's CPU under write load; jemalloc cut the
//! CPU per PUT and per read by about a tenth. Its defaults (four arenas a core, dirty pages kept
//! for 10 s) held about 80 MiB more at 1 M records than glibc, so the keeper runs it with two
//! arenas, returns freed pages after 1 s from a background thread, and keeps no muzzy pages
//! (`docs/benchmarks.md`). `_RJEM_MALLOC_CONF` in the environment still overrides these.
//!
//! A library must not choose its users' allocator, so binaries opt in with
//! [`use_keeper_allocator!`](crate::use_keeper_allocator) (the daemon and the benches that measure
//! its path).

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, NUL-terminated for C: read once, before the first allocation.
pub const CONF: &[u8; 70] = b"background_thread:true,narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Makes jemalloc, with [`CONF`], the allocator of the binary that invokes it (once, at its root).
#[macro_export]
macro_rules! use_keeper_allocator {
    () => {
        #[global_allocator]
        static KEEPER_ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        // tikv-jemalloc-sys prefixes jemalloc's symbols; a strong definition here overrides its weak
        // default, in the binary itself so the linker cannot leave it out.
        #[export_name = "_rjem_malloc_conf"]
        static KEEPER_ALLOCATOR_CONF: &[u8; $crate::allocator::CONF.len()] = $crate::allocator::CONF;
    };
}
