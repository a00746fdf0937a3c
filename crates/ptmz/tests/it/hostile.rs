//! Checkpoints whose pickle would run a command: refused, naming the file and the global, and
//! the command's marker file never appears. The last step loads one in PyTorch to prove the
//! fixture really is hostile.

use pz_ptmz::{read_state_dict, Error};

use crate::{fixtures, python};

#[test]
fn code_running_globals_are_refused_and_never_run() {
    let Some(python) = python("hostile") else { return };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    fixtures(&python, "hostile", &[dir.path(), &marker]);
    // Protocol 2 (torch's) spells Python 3's modules the Python 2 way (`__builtin__`,
    // `commands`); the error names the global as the file does and as Python 3 would load it.
    for (file, module, name, python3) in [
        ("system.pt", "posix", "system", "posix.system"),
        ("eval.pt", "__builtin__", "eval", "builtins.eval"),
        ("popen.pt", "commands", "Popen", "subprocess.Popen"),
        ("system_legacy.pt", "posix", "system", "posix.system"),
        ("system_proto4.pt", "posix", "system", "posix.system"),
    ] {
        let path = dir.path().join(file);
        let err = read_state_dict(&path).expect_err(file);
        let message = err.to_string();
        match &err {
            Error::RefusedGlobal { path: p, module: m, name: n } => {
                assert_eq!((p, m.as_str(), n.as_str()), (&path, module, name), "{file}");
            }
            other => panic!("{file}: expected a refused global, got {other:?}"),
        }
        assert!(message.contains(&path.display().to_string()), "{file}: message names the file: {message}");
        assert!(
            message.contains(&format!("`{module}.{name}`")),
            "{file}: message names the global: {message}"
        );
        assert!(
            message.contains(&format!("`{python3}`")),
            "{file}: message names Python 3's global: {message}"
        );
        assert!(!marker.exists(), "{file}: the marker appeared");
    }
    fixtures(&python, "potency", &[&dir.path().join("system.pt")]);
    assert!(marker.exists(), "the fixture is not hostile: torch.load(weights_only=False) did not run it");
}
