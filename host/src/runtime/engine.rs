//! The one wasmtime [`Engine`] of the process and the thread that drives its
//! epoch clock.
//!
//! Choices, and why:
//! - the component model with async support, so host calls can await the
//!   database without blocking a tokio worker;
//! - epoch interruption (not fuel): a counter bumped every [`EPOCH_TICK`]
//!   costs the guest almost nothing, and lets a spinning guest yield to the
//!   executor and be stopped at its deadline;
//! - the pooling allocator when the machine lets us reserve its address
//!   space, because it makes instantiation a slot reuse instead of an
//!   mmap; the on-demand allocator otherwise;
//! - wasmtime's own compiled-code cache on disk (see [`super::cache`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{
    Cache, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy,
};

/// How often the epoch advances: the granularity of deadlines and of the
/// yields that keep a busy guest from starving other requests.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What the engine is sized for.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Largest linear memory any plugin may be granted, in bytes.
    pub max_memory_bytes: usize,
    /// Instances that may be alive at once (concurrent calls).
    pub max_instances: u32,
    /// Try the pooling allocator first.
    pub pooling: bool,
    /// Where wasmtime keeps compiled components across restarts; `None`
    /// compiles every time.
    pub cache: Option<Cache>,
}

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocatorKind {
    Pooling,
    OnDemand,
}

/// Builds the engine, falling back from pooling to on-demand allocation when
/// the pool cannot be created (for example under a tight `ulimit -v`).
pub fn build_engine(settings: &EngineSettings) -> anyhow::Result<(Engine, AllocatorKind)> {
    if settings.pooling {
        match Engine::new(&config(settings, Some(pooling(settings)))) {
            Ok(engine) => return Ok((engine, AllocatorKind::Pooling)),
            Err(error) => tracing::warn!(
                %error,
                "pooling allocator unavailable; falling back to on-demand allocation"
            ),
        }
    }
    Ok((
        Engine::new(&config(settings, None))?,
        AllocatorKind::OnDemand,
    ))
}

fn config(settings: &EngineSettings, pooling: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .table_lazy_init(true)
        .cache(settings.cache.clone());
    if let Some(pooling) = pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    // `KAI_PERF_MAP=1` names compiled plugin functions for `perf` (in
    // /tmp/perf-<pid>.map), so a profile shows which guest code is hot.
    if std::env::var_os("KAI_PERF_MAP").is_some_and(|v| v == "1") {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    config
}

/// Bytes of a slot's linear memory reset in place and kept resident.
pub const KEEP_RESIDENT_LINEAR: usize = 16 << 20;
/// Bytes of a slot's tables kept resident.
pub const KEEP_RESIDENT_TABLE: usize = 1 << 20;
/// Bytes of a slot's async stack kept resident.
pub const KEEP_RESIDENT_STACK: usize = 1 << 20;
/// Unused slots kept warm beyond those already used: none, so slots in use
/// over a server's life stay at its peak concurrency.
pub const WARM_SLOTS: u32 = 0;

fn pooling(settings: &EngineSettings) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    let instances = settings.max_instances;
    pool.total_component_instances(instances)
        // A Rust component has one core module plus a few shims.
        .total_core_instances(instances * 8)
        .max_core_instances_per_component(16)
        .total_memories(instances)
        .max_memories_per_component(2)
        .total_tables(instances * 4)
        .max_tables_per_component(4)
        .total_stacks(instances)
        .max_memory_size(settings.max_memory_bytes)
        .table_elements(20_000)
        // Resetting a slot with madvise drops its pages: the next request
        // faults them back in, and the shootdown of their TLB entries
        // interrupts every core. Instead, reset the pages a request dirtied
        // in place (found with the PAGEMAP_SCAN ioctl where the kernel has
        // it, Linux 6.7+), up to these sizes; only beyond them is memory
        // given back to the kernel, in batches.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_LINEAR)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .async_stack_keep_resident(KEEP_RESIDENT_STACK)
        // What a slot dirtied beyond those sizes goes back to the kernel as
        // the slot is freed (batching held it until 64 slots had queued,
        // so one memory-hungry request stayed resident), and a new instance
        // takes a slot that has run before (its plugin's, else the least
        // recently used) before a fresh one: the slots that keep memory are
        // those that ran at once at the peak, not every slot ever used.
        .decommit_batch_size(1)
        .max_unused_warm_slots(WARM_SLOTS);
    pool
}

/// Gives the memory a compilation used back to the system.
///
/// Cranelift allocates some tens of MiB while compiling a component, on
/// wasmtime's compile threads (rayon's pool), and frees it at the end.
/// mimalloc, the allocator `kai` ships with, keeps an idle thread's freed
/// pages until that thread allocates again: a server that had compiled the
/// bundled plugins at start stayed at 122 MiB resident, against 66 MiB
/// with this collection. Each compile thread, and the calling one,
/// collects its own heap.
/// Harmless when mimalloc is not the global allocator (tests): its heaps
/// are then empty.
pub fn release_compile_scratch() {
    rayon::broadcast(|_| release_freed_memory());
    release_freed_memory();
}

/// Gives the memory this thread freed back to the system now, rather than
/// when mimalloc next looks (on a later allocation, which an idle server
/// does not make): for a rare large free, such as a plugin answer over its
/// size limit. Harmless when mimalloc is not the global allocator.
pub fn release_freed_memory() {
    // SAFETY: `mi_collect` only returns free memory mimalloc holds.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("kai-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("could not start the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
