//! The GPU engine: the trunk's extra-MSA stack, Evoformer and template pair stack (Suppl. Alg. 6, 16,
//! 18) and the structure module's pair terms (Alg. 22 lines 7, 10) as WGSL compute shaders on wgpu
//! (Vulkan on Linux and Windows, Metal on macOS, DirectX 12), fp32.
//!
//! Rooms:
//! * this module: the device ([`Gpu`]: adapter, limits, pipelines, errors), tensors in GPU buffers and
//!   the dispatch of one kernel;
//! * [`ops`]: the kernels' Rust faces (GEMM, layer norm, attention, elementwise updates), each the GPU
//!   twin of a CPU function in `model::ops` and tested against it;
//! * [`evoformer`]: one Evoformer / extra-MSA block from the CPU engine's loaded modules (the same weights,
//!   uploaded once per prediction), the template pair block, the structure module's pair terms, and the
//!   stack backend the [`crate::model::engine::GpuEngine`] installs.
//! * [`memory`]: the peak GPU memory of a prediction, estimated before any work.
//!
//! Kernels use fixed tiles and fixed reduction orders, no atomics: one GPU gives the same bits twice.
//! e^x is the CPU engine's polynomial (`shaders/common.wgsl`), not the driver's.

pub mod evoformer;
pub mod memory;
pub mod ops;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What can go wrong on the GPU path.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found ({0})")]
    NoAdapter(String),
    #[error("GPU adapter {adapter}: {message}")]
    Device { adapter: String, message: String },
    #[error(
        "GPU tensor {name} needs {bytes} bytes, over this adapter's {limit}-byte storage-buffer binding limit (use --device cpu, or fewer residues / MSA rows)"
    )]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
    },
    #[error("the GPU reported an error: {0}")]
    Failed(String),
    #[error("{0} is not supported by the GPU engine")]
    Unsupported(String),
}

pub type GpuResult<T> = Result<T, GpuError>;

/// A compiled kernel: its shader source (by address), entry point and substitutions.
type PipelineKey = (usize, &'static str, Vec<(&'static str, u32)>);

/// An open GPU device with its kernels.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    /// The first error the device reported outside an error scope (out of memory, device lost, …).
    failure: Arc<Mutex<Option<String>>>,
    /// A one-value buffer bound where a kernel's optional operand is absent.
    dummy: wgpu::Buffer,
    /// A lower binding limit than the adapter's (tests of the size checks and the fall-back).
    binding_cap: Option<u64>,
    memory: Arc<MemoryStats>,
    /// The adapter's own memory where the backend reports it (see [`adapter_memory`]).
    adapter_memory: Option<u64>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A contiguous f32 tensor in a GPU buffer.
#[derive(Debug, Clone)]
pub struct Tensor {
    buf: wgpu::Buffer,
    /// Elements.
    pub len: usize,
    _alloc: Arc<Allocation>,
}

/// Bytes of tensors alive now and at most since the last reset (weights and activations; not the
/// small parameter and read-back buffers).
#[derive(Debug, Default)]
struct MemoryStats {
    live: std::sync::atomic::AtomicU64,
    peak: std::sync::atomic::AtomicU64,
}

/// One tensor's share of [`MemoryStats`], given back when its last clone drops.
#[derive(Debug)]
struct Allocation {
    bytes: u64,
    stats: Arc<MemoryStats>,
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.stats
            .live
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

const SHADER_COMMON: &str = include_str!("shaders/common.wgsl");

impl Gpu {
    /// Opens the first high-performance adapter wgpu finds (`WGPU_BACKEND` / `WGPU_ADAPTER_NAME` narrow
    /// the choice), with the adapter's own limits.
    pub fn new() -> GpuResult<Self> {
        let adapter = find_adapter()?;
        let info = adapter.get_info();
        let have = adapter.limits();
        let adapter_memory = adapter_memory(&adapter);
        let name = format!("{} ({:?})", info.name, info.backend);
        let need = [
            (
                "max_compute_workgroup_storage_size",
                have.max_compute_workgroup_storage_size,
                16384,
            ),
            (
                "max_compute_invocations_per_workgroup",
                have.max_compute_invocations_per_workgroup,
                256,
            ),
            (
                "max_storage_buffers_per_shader_stage",
                have.max_storage_buffers_per_shader_stage,
                6,
            ),
            (
                "max_compute_workgroups_per_dimension",
                have.max_compute_workgroups_per_dimension,
                65535,
            ),
        ];
        for (what, got, want) in need {
            if got < want {
                return Err(GpuError::Device {
                    adapter: name,
                    message: format!("{what} is {got}; the kernels need {want}"),
                });
            }
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ferrofold"),
            required_limits: have.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device {
            adapter: name.clone(),
            message: e.to_string(),
        })?;
        let failure = Arc::new(Mutex::new(None::<String>));
        let slot = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if s.is_none() {
                *s = Some(e.to_string());
            }
        }));
        let slot = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if s.is_none() {
                *s = Some(format!("device lost ({reason:?}): {message}"));
            }
        });
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(Self {
            device,
            queue,
            info,
            limits: have,
            pipelines: Mutex::new(HashMap::new()),
            failure,
            dummy,
            binding_cap: None,
            memory: Arc::default(),
            adapter_memory,
        })
    }

    /// The adapter's memory, bytes, where the backend reports it (Vulkan: its largest device-local
    /// heap; `None` on Metal and DirectX 12).
    pub fn adapter_memory(&self) -> Option<u64> {
        self.adapter_memory
    }

    /// `name (type, backend, driver)`, its memory where known and the limit that bounds problem sizes.
    pub fn describe(&self) -> String {
        let memory = self.adapter_memory.map_or(String::new(), |b| {
            format!("{} of memory; ", crate::model::plan::memory::human(b))
        });
        format!(
            "{} ({:?}, {:?}, driver {} {}; {memory}storage-buffer binding limit {} MiB)",
            self.info.name,
            self.info.device_type,
            self.info.backend,
            self.info.driver,
            self.info.driver_info,
            self.limits.max_storage_buffer_binding_size >> 20
        )
    }

    /// A software rasteriser (lavapipe, WARP, SwiftShader): correct but slower than the CPU engine, so
    /// `--device auto` does not pick it.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The largest tensor one kernel can bind, bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(self.binding_cap.unwrap_or(u64::MAX))
    }

    /// Destroys the device, as a driver reset or a lost GPU would (tests of the fault paths).
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.device.destroy();
    }

    /// Treats `bytes` as the binding limit when it is lower than the adapter's (to try the size checks
    /// and the CPU fall-back on a small GPU).
    pub fn cap_binding_bytes(&mut self, bytes: u64) {
        self.binding_cap = Some(bytes);
    }

    fn check_size(&self, name: &str, len: usize) -> GpuResult<u64> {
        let bytes = (len.max(1) * 4) as u64;
        let limit = self.max_binding_bytes();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                name: name.to_string(),
                bytes,
                limit,
            });
        }
        Ok(bytes)
    }

    /// A zero-filled tensor of `len` values (`name` for errors).
    pub fn zeros(&self, name: &str, len: usize) -> GpuResult<Tensor> {
        let size = self.check_size(name, len)?;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let live = self
            .memory
            .live
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed)
            + size;
        self.memory
            .peak
            .fetch_max(live, std::sync::atomic::Ordering::Relaxed);
        Ok(Tensor {
            buf,
            len,
            _alloc: Arc::new(Allocation {
                bytes: size,
                stats: self.memory.clone(),
            }),
        })
    }

    /// Most bytes of tensors alive at once since the last [`Gpu::reset_peak_bytes`].
    pub fn peak_bytes(&self) -> u64 {
        self.memory.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a new peak from the bytes alive now.
    pub fn reset_peak_bytes(&self) {
        let live = self.memory.live.load(std::sync::atomic::Ordering::Relaxed);
        self.memory
            .peak
            .store(live, std::sync::atomic::Ordering::Relaxed);
    }

    /// Uploads `data` (through the queue, not a mapped buffer: mapping panics inside wgpu once the device
    /// is lost, a queue write is then an error the device reports).
    pub fn upload(&self, name: &str, data: &[f32]) -> GpuResult<Tensor> {
        let t = self.zeros(name, data.len())?;
        if !data.is_empty() {
            self.queue
                .write_buffer(&t.buf, 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// Reads `t` back (waits for the work queued before).
    pub fn download(&self, t: &Tensor) -> GpuResult<Vec<f32>> {
        let size = (t.len.max(1) * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.buf, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::Failed(format!("reading a tensor back: {e}"))),
            Err(_) => return Err(GpuError::Failed("reading a tensor back: no answer".into())),
        }
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::Failed(format!("reading a tensor back: {e}")))?;
            bytemuck::cast_slice::<u8, f32>(&view)[..t.len].to_vec()
        };
        staging.unmap();
        Ok(out)
    }

    /// Waits until the queued work is done and reports the first error the device raised.
    pub fn wait(&self) -> GpuResult<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Failed(e.to_string()))?;
        self.check()
    }

    /// The first error the device raised so far, if any.
    pub fn check(&self) -> GpuResult<()> {
        match self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            Some(e) => Err(GpuError::Failed(e)),
            None => Ok(()),
        }
    }

    /// The compute pipeline of `entry` in `source` (with `common.wgsl` prepended and `{KEY}` placeholders
    /// replaced), compiled once per source, entry and substitution: the shader sources are the crate's
    /// own static texts, so their address identifies them and a dispatch builds no text.
    fn pipeline(
        &self,
        source: &'static str,
        entry: &'static str,
        subst: &[(&'static str, u32)],
    ) -> wgpu::ComputePipeline {
        let key = (source.as_ptr() as usize, entry, subst.to_vec());
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&key) {
            return p.clone();
        }
        let mut text = String::with_capacity(SHADER_COMMON.len() + source.len());
        text.push_str(SHADER_COMMON);
        text.push_str(source);
        for (k, v) in subst {
            text = text.replace(&format!("{{{k}}}"), &v.to_string());
        }
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(text.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        cache.insert(key, pipeline.clone());
        pipeline
    }

    /// Runs `pipeline` over `groups` workgroups with `params` (16-byte padded) at binding 0 and
    /// `buffers` at the given bindings.
    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        params: &[u32],
        buffers: &[(u32, &wgpu::Buffer)],
        groups: (u32, u32, u32),
    ) {
        if groups.0 == 0 || groups.1 == 0 || groups.2 == 0 {
            return;
        }
        let mut words = params.to_vec();
        words.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: (words.len() * 4) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue
            .write_buffer(&uniform, 0, bytemuck::cast_slice(&words));
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        entries.extend(buffers.iter().map(|(b, buf)| wgpu::BindGroupEntry {
            binding: *b,
            resource: buf.as_entire_binding(),
        }));
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
        self.queue.submit([enc.finish()]);
    }

    /// Workgroups for `n` items of `per_group` each, as a 2-D grid within the per-dimension limit.
    fn grid(&self, n: usize, per_group: usize) -> (u32, u32, u32) {
        let groups = n.div_ceil(per_group) as u64;
        let max = self.limits.max_compute_workgroups_per_dimension.min(65535) as u64;
        if groups <= max {
            (groups as u32, 1, 1)
        } else {
            (max as u32, groups.div_ceil(max) as u32, 1)
        }
    }
}

/// The largest device-local memory heap of a Vulkan adapter (a discrete GPU's own memory; for an
/// integrated or software adapter the share of system memory the driver offers); `None` on other
/// backends. wgpu itself does not report memory sizes.
fn adapter_memory(adapter: &wgpu::Adapter) -> Option<u64> {
    #[cfg(not(target_vendor = "apple"))]
    {
        // SAFETY: the raw Vulkan handles are only used for this one query, while `adapter` (which
        // owns them) is alive; nothing is created or destroyed through them.
        let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }?;
        let props = unsafe {
            hal.shared_instance()
                .raw_instance()
                .get_physical_device_memory_properties(hal.raw_physical_device())
        };
        // VK_MEMORY_HEAP_DEVICE_LOCAL_BIT
        const DEVICE_LOCAL: u32 = 0x1;
        props
            .memory_heaps_as_slice()
            .iter()
            .filter(|h| h.flags.as_raw() & DEVICE_LOCAL != 0)
            .map(|h| h.size)
            .max()
    }
    #[cfg(target_vendor = "apple")]
    {
        let _ = adapter;
        None
    }
}

/// The first high-performance adapter wgpu finds (`WGPU_BACKEND` / `WGPU_ADAPTER_NAME` narrow the
/// choice).
fn find_adapter() -> GpuResult<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| GpuError::NoAdapter(e.to_string()))
}

/// The adapter [`Gpu::new`] would open, found without opening a device and not kept: `--device auto`'s
/// first question. A software adapter (lavapipe, WARP) is not used by `auto`, and opening a device on it
/// to find that out kept the device and its threads for the whole CPU run, memory the estimate
/// `--memory-budget` is checked against does not hold: the demo model at L = 150 peaked at 151 MiB RSS
/// with `auto` on lavapipe, 132 MiB with an in-process probe, 80 MiB with `--device cpu` (the Vulkan
/// driver the probe loads stays mapped). So where the program has said how (see [`probe_in_child`]) the
/// question is asked in a child process: the driver is never loaded here unless the GPU is used, and a
/// driver that hangs or crashes while enumerating adapters costs [`PROBE_TIMEOUT`] and a CPU run, not the
/// run itself. Remembered, like [`shared`].
pub fn probe() -> Result<AdapterSummary, String> {
    static PROBE: std::sync::OnceLock<Result<AdapterSummary, String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| match PROBE_HELPER.get() {
            Some(exe) => {
                let mut cmd = std::process::Command::new(exe);
                cmd.env(PROBE_ENV, "1");
                // A program that cannot be started again (replaced or deleted while running) asks here.
                probe_command(cmd, PROBE_TIMEOUT).unwrap_or_else(probe_here)
            }
            None => probe_here(),
        })
        .clone()
}

/// How long [`probe`]'s child may take (a driver's first enumeration can take seconds).
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The environment variable that makes the `ferrofold` program answer [`probe`]'s question and exit
/// (see [`probe_child_main`]).
const PROBE_ENV: &str = "FERROFOLD_INTERNAL_GPU_PROBE";

static PROBE_HELPER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Makes [`probe`] ask `exe` (a program that calls [`probe_child_main`] first thing, as `ferrofold`
/// does) in a child process. Library callers that do not set it probe in their own process.
pub fn probe_in_child(exe: std::path::PathBuf) {
    let _ = PROBE_HELPER.set(exe);
}

/// In a child started by [`probe`] (the variable set and no arguments): probes, prints the answer on
/// stdout and returns the exit code the process should end with; `None` in any other process.
pub fn probe_child_main() -> Option<std::process::ExitCode> {
    std::env::var_os(PROBE_ENV)?;
    if std::env::args_os().len() > 1 {
        return None;
    }
    match probe_here() {
        Ok(a) => println!(
            "ok\t{}\t{}",
            u8::from(a.software),
            a.description.replace('\n', " ")
        ),
        Err(e) => println!("error\t{}", e.replace(['\n', '\t'], " ")),
    }
    Some(std::process::ExitCode::SUCCESS)
}

/// Runs a probe child and reads its one-line answer; a child that does not answer within `timeout` is
/// killed, one that crashes or prints something else is an error naming what happened. `None` when the
/// child cannot be started.
fn probe_command(
    mut cmd: std::process::Command,
    timeout: std::time::Duration,
) -> Option<Result<AdapterSummary, String>> {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // Both pipes read on threads, so a chatty driver cannot block the child on a full pipe.
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    Some(wait_for_answer(&mut child, timeout).and_then(|status| {
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        read_answer(status, &out, &err)
    }))
}

/// A thread reading `pipe` to its end.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut text);
        }
        text
    })
}

/// The probe child's exit status, or an error once `timeout` has passed (it is then killed).
fn wait_for_answer(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> Result<std::process::ExitStatus, String> {
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the GPU probe did not answer within {} s (a hung driver?)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => return Err(format!("the GPU probe: {e}")),
        }
    }
}

/// The adapter summary in the probe child's stdout (`out`), or what went wrong.
fn read_answer(
    status: std::process::ExitStatus,
    out: &str,
    err: &str,
) -> Result<AdapterSummary, String> {
    let line = out.lines().next().unwrap_or("");
    let mut fields = line.splitn(3, '\t');
    match (fields.next(), fields.next(), fields.next()) {
        (Some("ok"), Some(software), Some(description)) if status.success() => Ok(AdapterSummary {
            software: software == "1",
            description: description.to_string(),
        }),
        (Some("error"), Some(message), None) if status.success() => Err(message.to_string()),
        _ => {
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(format!("the GPU probe failed ({status}): {last}"))
        }
    }
}

/// [`probe`]'s question answered in this process.
fn probe_here() -> Result<AdapterSummary, String> {
    let info = find_adapter().map_err(|e| e.to_string())?.get_info();
    Ok(AdapterSummary {
        software: info.device_type == wgpu::DeviceType::Cpu,
        description: format!(
            "{} ({:?}, {:?}, driver {} {})",
            info.name, info.device_type, info.backend, info.driver, info.driver_info
        ),
    })
}

/// What [`probe`] tells.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    /// A software rasteriser (see [`Gpu::is_software`]).
    pub software: bool,
    /// Name, type, backend and driver.
    pub description: String,
}

/// The process's GPU, opened once (`Err` is remembered too: a machine without an adapter is asked once).
pub fn shared() -> Result<Arc<Gpu>, String> {
    static GPU: std::sync::OnceLock<Result<Arc<Gpu>, String>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| Gpu::new().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn the_probe_childs_answer_is_read() {
        let run = |script: &str, timeout| probe_command(sh(script), timeout).unwrap();
        let a = run("printf 'ok\\t1\\tllvmpipe (Cpu, Vulkan)\\n'", PROBE_TIMEOUT).unwrap();
        assert!(a.software);
        assert_eq!(a.description, "llvmpipe (Cpu, Vulkan)");
        let e = run("printf 'error\\tno GPU adapter found\\n'", PROBE_TIMEOUT).unwrap_err();
        // A program that cannot be started: no answer (the caller probes in its own process).
        assert!(probe_command(Command::new("/nonexistent/ferrofold"), PROBE_TIMEOUT).is_none());
        assert_eq!(e, "no GPU adapter found");
    }

    #[test]
    fn a_hung_or_crashed_probe_is_an_error_not_a_hang() {
        let run = |script: &str, timeout| probe_command(sh(script), timeout).unwrap();
        let t = std::time::Instant::now();
        let e = run("sleep 30", Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("did not answer within 0.3 s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let e = run("echo 'driver: boom' >&2; kill -SEGV $$", PROBE_TIMEOUT).unwrap_err();
        assert!(e.contains("signal") && e.contains("driver: boom"), "{e}");
        let e = run("echo garbage", PROBE_TIMEOUT).unwrap_err();
        assert!(e.contains("the GPU probe failed"), "{e}");
    }
}
