//! What a server process costs, read from `/proc`: CPU time of every thread and resident
//! memory, summed over a list of pids (nginx runs a master and workers; `sluice serve` is one).

/// CPU time of every thread of the processes, in nanoseconds (first field of
/// `/proc/<pid>/task/<tid>/schedstat`: finer than the clock ticks of `/proc/<pid>/stat`).
/// A pid that is gone counts 0.
#[must_use]
pub fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| threads_cpu_ns(&pid.to_string(), ""))
        .sum()
}

/// CPU time, in nanoseconds, of the threads of process `pid` (`"self"` for this one) whose
/// name starts with `name_prefix` (`""`: every thread).
#[must_use]
pub fn threads_cpu_ns(pid: &str, name_prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            name_prefix.is_empty()
                || std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.starts_with(name_prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Resident set size of the processes (`VmRSS`), in bytes.
#[must_use]
pub fn rss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

/// `--pid PID[,PID...]` as a list.
///
/// # Panics
/// An item that is not a number.
#[must_use]
pub fn parse_pids(s: &str) -> Vec<u32> {
    s.split(',')
        .map(|p| p.trim().parse().expect("pid"))
        .collect()
}

/// (`utime`, `stime`) of the processes in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`):
/// how their CPU time splits between user space and the kernel.
#[must_use]
pub fn user_system_ticks(pids: &[u32]) -> (u64, u64) {
    let mut total = (0, 0);
    for pid in pids {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name (field 2) may contain spaces: count fields after its closing paren.
        let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        total.0 += f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        total.1 += f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}
