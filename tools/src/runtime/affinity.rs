//! Core pinning. A missing or refused core is a warning, never an error: the thread runs unpinned.

/// Number of cores this process may run on.
pub fn available_cores() -> usize {
    core_affinity::get_core_ids()
        .map(|v| v.len())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// Whether `core` (an OS CPU id) exists and this process may run on it.
pub fn core_allowed(core: usize) -> bool {
    core_affinity::get_core_ids().is_some_and(|ids| ids.iter().any(|c| c.id == core))
}

/// Pins the calling thread to `core` (an OS CPU id). Returns a warning when that is not possible.
pub fn pin_current(core: usize, thread: &str) -> Result<(), String> {
    let Some(ids) = core_affinity::get_core_ids() else {
        return Err(format!(
            "thread {thread}: cannot list cores; running unpinned"
        ));
    };
    let Some(id) = ids.into_iter().find(|c| c.id == core) else {
        return Err(format!(
            "thread {thread}: core {core} does not exist or is not allowed ({} available); running unpinned",
            available_cores()
        ));
    };
    if core_affinity::set_for_current(id) {
        Ok(())
    } else {
        Err(format!(
            "thread {thread}: pinning to core {core} was refused; running unpinned"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_core_is_a_warning() {
        let w = std::thread::spawn(|| pin_current(100_000, "t"))
            .join()
            .unwrap();
        assert!(w.unwrap_err().contains("core 100000"));
        let ok = std::thread::spawn(|| pin_current(0, "t")).join().unwrap();
        assert!(ok.is_ok(), "{ok:?}");
        assert!(available_cores() >= 1);
        assert!(core_allowed(0) && !core_allowed(100_000));
    }
}
