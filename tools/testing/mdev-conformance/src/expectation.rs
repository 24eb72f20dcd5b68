// SPDX-License-Identifier: GPL-2.0
//! What a transcript of the Rust core is expected to be, made from a transcript of
//! the C core (the reference) by applying the documented, intended differences
//! between the two, and nothing else (Documentation/design.rst, "Uevents"):
//!
//! - the C core sends an mdev's `add` from `device_add()`, before the vendor's probe
//!   and the links; the Rust core sends it once the mdev is complete, right before
//!   its `bind`, with the bound driver in it (`DRIVER=`, as the driver core puts it
//!   in every uevent of a bound device). So the events of the objects the probe adds
//!   (the VFIO group device, the `vfio-dev` child) come before the mdev's `add`;
//! - a create that fails after `device_add()` sends `add`, then `remove` (and
//!   `bind`/`unbind` in between if it failed after the probe) on the C core, and no
//!   event of the mdev on the Rust core. The events of objects its probe added and
//!   removed again are sent by both.
//!
//! compare-cores diffs the Rust core's transcript with this expectation, so an
//! intended difference does not fail the comparison and any other difference,
//! including the Rust core behaving like the C core here, still does.

/// One `  uevent ACTION DEVPATH KEY=VALUE...` line of a transcript.
struct Event<'a> {
    line: &'a str,
    action: &'a str,
    devpath: &'a str,
    /// The `KEY=VALUE` words.
    keys: &'a str,
}

impl<'a> Event<'a> {
    fn parse(line: &'a str) -> Option<Event<'a>> {
        let rest = line.strip_prefix("  uevent ")?;
        let (action, rest) = rest.split_once(' ')?;
        let (devpath, keys) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Event {
            line,
            action,
            devpath,
            keys,
        })
    }

    /// The value of `key` in the event, if it has it.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.keys
            .split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    fn is_mdev_add(&self) -> bool {
        self.action == "add" && self.get("SUBSYSTEM") == Some("mdev")
    }
}

/// Rewrites the events of one operation (consecutive event lines).
fn rewrite_block(events: &[Event<'_>]) -> Vec<String> {
    let mut out: Vec<Option<String>> = events.iter().map(|e| Some(e.line.to_string())).collect();
    // The new line to put right before each bind, by index.
    let mut before: Vec<Option<String>> = vec![None; events.len()];
    for (i, add) in events.iter().enumerate() {
        if !add.is_mdev_add() {
            continue;
        }
        let later = || {
            events
                .iter()
                .enumerate()
                .skip(i + 1)
                .filter(|(_, e)| e.devpath == add.devpath)
        };
        if later().any(|(_, e)| e.action == "remove") {
            // Created and deleted within one operation: a failed create. Quiet.
            for (j, e) in events.iter().enumerate().skip(i) {
                if e.devpath == add.devpath {
                    out[j] = None;
                }
            }
        } else if let Some((j, bind)) = later().find(|(_, e)| e.action == "bind") {
            let mut line = add.line.to_string();
            if add.get("DRIVER").is_none() {
                if let Some(d) = bind.get("DRIVER") {
                    // DRIVER comes right after SUBSYSTEM, the last key an mdev's add
                    // has (transcript.rs, `EVENT_KEYS`).
                    line.push_str(&format!(" DRIVER={d}"));
                }
            }
            out[i] = None;
            before[j] = Some(line);
        }
    }
    out.into_iter()
        .zip(before)
        .flat_map(|(line, before)| before.into_iter().chain(line))
        .collect()
}

/// The expected Rust-core transcript for a C-core transcript `text`.
pub fn from_reference(text: &str) -> String {
    let mut out = String::new();
    let mut block: Vec<Event<'_>> = Vec::new();
    let flush = |block: &mut Vec<Event<'_>>, out: &mut String| {
        for line in rewrite_block(block) {
            out.push_str(&line);
            out.push('\n');
        }
        block.clear();
    };
    for line in text.lines() {
        match Event::parse(line) {
            Some(e) => block.push(e),
            None => {
                flush(&mut block, &mut out);
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    flush(&mut block, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::from_reference;

    const P: &str = "/devices/virtual/mtty/mtty/u1";

    #[test]
    fn add_moves_to_bind_and_names_the_driver() {
        let c = format!(
            "create x -> 36\n  uevent add {P} SUBSYSTEM=mdev\n  uevent add /devices/virtual/vfio/<group> SUBSYSTEM=vfio\n  uevent add {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n  uevent bind {P} SUBSYSTEM=mdev DRIVER=mtty\n  avail a=1\n"
        );
        let rust = format!(
            "create x -> 36\n  uevent add /devices/virtual/vfio/<group> SUBSYSTEM=vfio\n  uevent add {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n  uevent add {P} SUBSYSTEM=mdev DRIVER=mtty\n  uevent bind {P} SUBSYSTEM=mdev DRIVER=mtty\n  avail a=1\n"
        );
        assert_eq!(from_reference(&c), rust);
        // The expectation of a Rust transcript is itself.
        assert_eq!(from_reference(&rust), rust);
    }

    #[test]
    fn failed_create_is_quiet() {
        let c = format!(
            "create x -> ENOSPC\n  uevent add {P} SUBSYSTEM=mdev\n  uevent remove {P} SUBSYSTEM=mdev\n  avail a=0\n"
        );
        assert_eq!(from_reference(&c), "create x -> ENOSPC\n  avail a=0\n");
        // After the probe: its children's events stay, the mdev's go.
        let c = format!(
            "create x -> EIO\n  uevent add {P} SUBSYSTEM=mdev\n  uevent add {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n  uevent bind {P} SUBSYSTEM=mdev DRIVER=mtty\n  uevent remove {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n  uevent unbind {P} SUBSYSTEM=mdev\n  uevent remove {P} SUBSYSTEM=mdev\n"
        );
        assert_eq!(
            from_reference(&c),
            format!("create x -> EIO\n  uevent add {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n  uevent remove {P}/vfio-dev/vfio0 SUBSYSTEM=vfio-dev\n")
        );
    }

    #[test]
    fn everything_else_is_kept() {
        let c = format!(
            "remove u1 \"1\" -> 1\n  uevent unbind {P} SUBSYSTEM=mdev\n  uevent remove {P} SUBSYSTEM=mdev\n  uevent change /devices/virtual/mtty/mtty SUBSYSTEM=mtty MDEV_STATE=unregistered\n== tree\n/sys/bus/mdev\n"
        );
        assert_eq!(from_reference(&c), c);
        // An add of another subsystem is not an mdev's.
        let c = "  uevent add /devices/virtual/vfio/<group> SUBSYSTEM=vfio\n  uevent remove /devices/virtual/vfio/<group> SUBSYSTEM=vfio\n";
        assert_eq!(from_reference(c), c);
    }
}
