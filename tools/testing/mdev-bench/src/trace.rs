// SPDX-License-Identifier: GPL-2.0
//! Where the time of one create goes: ftrace's function_graph tracer around one
//! write to a type's `create` file (`--trace`). It needs a kernel with
//! `CONFIG_FUNCTION_GRAPH_TRACER` (Debian's has it; the project's test kernels do
//! not, and `--trace` then fails the turn saying so).
//!
//! The graph starts at `kernfs_fop_write_iter` (the write to the sysfs file), only
//! for this process (`set_ftrace_pid`), pinned to one CPU while it is traced, with
//! interrupts left out (`funcgraph-irqs` off). The graph's lines are printed as
//! `# trace: CORE VENDOR LINE` diagnostics; tools/testing/lib/bench-report.py
//! turns them into the per-phase breakdown. The tracer's own cost inflates every
//! traced function (each entry and exit is recorded), so the breakdown gives shares
//! of one create, not its untraced duration (`cycle_us` is that).

use std::fs;
use std::path::Path;

const TRACING: &str = "/sys/kernel/tracing";

fn set(file: &str, value: &str) -> Result<(), String> {
    let p = Path::new(TRACING).join(file);
    fs::write(&p, value).map_err(|e| format!("write {value:?} to {}: {e}", p.display()))
}

/// Mounts tracefs at /sys/kernel/tracing if it is not there yet, and checks that the
/// kernel has the function_graph tracer.
fn prepare() -> Result<(), String> {
    let trace = Path::new(TRACING).join("trace");
    if !trace.exists() {
        let src = c"tracefs";
        let dst = c"/sys/kernel/tracing";
        // SAFETY: mount reads the NUL-terminated strings, alive for the call; the
        // data pointer may be NULL.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(format!(
                "cannot mount tracefs on {TRACING}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let tracers = fs::read_to_string(Path::new(TRACING).join("available_tracers"))
        .map_err(|e| format!("{TRACING}/available_tracers: {e}"))?;
    if !tracers.split_whitespace().any(|t| t == "function_graph") {
        return Err(format!(
            "this kernel has no function_graph tracer (available: {}): \
             no breakdown (CONFIG_FUNCTION_GRAPH_TRACER)",
            tracers.trim()
        ));
    }
    Ok(())
}

/// Pins the calling thread to CPU `cpu`, or to all CPUs when `None`.
fn pin(cpu: Option<usize>) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write the local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => {
                for c in 0..libc::CPU_SETSIZE as usize {
                    libc::CPU_SET(c, &mut set);
                }
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Traces `op` (one create) with function_graph and prints the graph as
/// `# trace: CORE VENDOR LINE` lines. The tracer is reset afterwards, also on a
/// failure.
pub fn create_graph<T>(
    core: &str,
    vendor: &str,
    op: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    prepare()?;
    let setup = || -> Result<(), String> {
        set("tracing_on", "0")?;
        set("current_tracer", "nop")?;
        set("buffer_size_kb", "16384")?;
        set("set_ftrace_pid", &std::process::id().to_string())?;
        set("set_graph_function", "kernfs_fop_write_iter")?;
        set("options/funcgraph-irqs", "0")?;
        set("options/funcgraph-proc", "0")?;
        set("options/funcgraph-overhead", "1")?;
        set("current_tracer", "function_graph")?;
        set("trace", "")
    };
    let reset = || {
        let _ = set("tracing_on", "0");
        let _ = set("current_tracer", "nop");
        let _ = set("set_graph_function", "");
        let _ = set("set_ftrace_pid", "");
        let _ = set("trace", "");
    };
    if let Err(e) = setup() {
        reset();
        return Err(e);
    }
    pin(Some(0));
    let traced = set("tracing_on", "1").and_then(|()| {
        let r = op();
        let _ = set("tracing_on", "0");
        r
    });
    pin(None);
    let text = fs::read_to_string(Path::new(TRACING).join("trace"));
    reset();
    let value = traced?;
    let text = text.map_err(|e| format!("{TRACING}/trace: {e}"))?;
    let mut lines = 0;
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        println!("# trace: {core} {vendor} {l}");
        lines += 1;
    }
    if lines == 0 {
        return Err("function_graph recorded nothing of the create".into());
    }
    Ok(value)
}
