//! State that must be one per process even when the prelude is linked into the process many times.
//!
//! In a notebook, evcxr compiles each cell into its own library, and each library carries its own copy of the
//! prelude — with its own copy of every `static`. Without care, `manual_seed(0)` in one cell would seed a
//! generator that the next cell never sees, and the interrupt flag set by Ctrl-C would not be the one a later
//! cell checks. [`process_global`] gives every copy the same value: the first copy to ask creates it, leaks it
//! (it lives as long as the process), and records its address in an environment variable — the one store that
//! all copies share, because the C library holds it once per process.
//!
//! The variable's value carries the process id, so a child process that inherits the environment never reads
//! its parent's address; its name carries the type's name and size and the prelude's version, so copies only
//! share values of the very same type.

use std::any::type_name;
use std::sync::Mutex;

/// The value registered under `name` for this process, created by `init` on first use.
///
/// Use it for state a learner expects to be global (the random generator, the GPU handles, the interrupt flag).
pub fn process_global<T: Send + Sync + 'static>(name: &str, init: fn() -> T) -> &'static T {
    // Serialises creation among threads that share this copy; copies create values only while a cell runs,
    // and cells run one at a time.
    static CREATING: Mutex<()> = Mutex::new(());
    let _guard = CREATING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = variable_name::<T>(name);
    let pid = std::process::id();
    if let Some(addr) = std::env::var(&key).ok().and_then(|value| parse(&value, pid)) {
        // SAFETY: the address was produced below, in this process (the pid matches), by `Box::leak` of a `T`
        // of the same name, size and prelude version (all part of `key`); leaked values are never freed.
        return unsafe { &*(addr as *const T) };
    }
    let value: &'static T = Box::leak(Box::new(init()));
    let addr = std::ptr::from_ref(value) as usize;
    // SAFETY: std serialises its own environment access; the prelude only writes these variables while holding
    // `CREATING` and reads them through std, and no foreign code in a notebook process writes them.
    unsafe { std::env::set_var(&key, format!("{pid}:{addr:x}")) };
    value
}

fn variable_name<T>(name: &str) -> String {
    let raw = format!("{name}_{}_{}_{}", type_name::<T>(), std::mem::size_of::<T>(), env!("CARGO_PKG_VERSION"));
    let cleaned: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("CANDLELIT_SHARED_{cleaned}")
}

fn parse(value: &str, pid: u32) -> Option<usize> {
    let (owner, addr) = value.split_once(':')?;
    (owner.parse::<u32>().ok()? == pid).then(|| usize::from_str_radix(addr, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_same_name_and_type_give_the_same_value() {
        let a = process_global("test-counter", || AtomicU32::new(7));
        a.fetch_add(1, Ordering::SeqCst);
        let b = process_global("test-counter", || AtomicU32::new(0));
        assert_eq!(b.load(Ordering::SeqCst), 8);
        assert!(std::ptr::eq(a, b));
        let other = process_global("test-counter", || AtomicU32::new(0)) as *const _ as usize;
        assert_eq!(other, a as *const _ as usize);
        let different = process_global("another-counter", || AtomicU32::new(1));
        assert_eq!(different.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_address_from_another_process_is_ignored() {
        assert_eq!(parse("1:ff", 2), None);
        assert_eq!(parse("2:ff", 2), Some(255));
        assert_eq!(parse("garbage", 2), None);
    }
}
