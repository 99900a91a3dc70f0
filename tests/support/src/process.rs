//! gadka as an operator runs it, in a process of its own: for what only a process
//! shows (its command line, its exit on a signal, a crash). It binds port 0 and says
//! in its log where it listens, which is how a test finds it.

use std::{
    io::{BufRead, BufReader},
    process::Child,
};

/// Reads the server's log (its piped standard output) until it says where it
/// listens; that address. The rest of the log is read on, so that the server's later
/// lines never meet a closed pipe.
pub fn bound_address(server: &mut Child) -> String {
    let stdout = server.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("a log line");
        if line.contains("listening")
            && let Some(address) = line.split("address=").nth(1)
        {
            std::thread::spawn(move || lines.for_each(drop));
            return address.trim().to_owned();
        }
    }
    panic!("the server exited without saying where it listens");
}
