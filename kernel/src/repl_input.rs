//! The REPL's answers to a cell that asks for a line (`input()`, `getpass()`, `read_line` on stdin): asked on the
//! terminal, with what is typed for `getpass()` hidden.

use std::io::Write;

use crate::session::InputSource;

/// Asks on the terminal. Ctrl-D answers with an error the cell sees.
pub fn terminal() -> InputSource {
    Box::new(|request| {
        let mut out = std::io::stdout().lock();
        out.write_all(request.prompt.as_bytes()).and_then(|()| out.flush()).map_err(|e| e.to_string())?;
        drop(out);
        let hidden = if request.password { EchoOff::start() } else { None };
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line);
        if hidden.is_some() {
            drop(hidden);
            println!();
        }
        match read {
            Ok(0) => Err("the terminal closed (Ctrl-D) before an answer was typed".into()),
            Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => Err(format!("the terminal could not be read: {e}")),
        }
    })
}

/// The terminal with echo turned off until dropped.
struct EchoOff(libc::termios);

impl EchoOff {
    fn start() -> Option<EchoOff> {
        // SAFETY: tcgetattr/tcsetattr read and write the termios struct we own, for stdin's descriptor.
        unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut settings) != 0 {
                return None;
            }
            let saved = settings;
            settings.c_lflag &= !libc::ECHO;
            (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &settings) == 0).then_some(EchoOff(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `start`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}
