//! Which agent a session's run belongs to, for the Claude Code hook.
//!
//! An agent starts `baton mcp` and its hooks as its own children, but tells neither which
//! conversation they serve. So each session with a run leaves a small file in the data
//! directory naming its run, its own process and its parent (the agent); the hook looks for a
//! file whose agent is one of its own ancestors. Files of sessions that died without cleaning
//! up are recognised by their dead process and ignored (and removed).

use std::fs;
use std::io;
use std::path::PathBuf;

use baton_core::RunId;
use baton_platform::DataDir;
use serde::{Deserialize, Serialize};

use crate::process;

/// One session's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The `baton mcp` process.
    pub pid: u32,
    /// Its parent: the agent.
    pub agent: u32,
    /// The session's run.
    pub run: RunId,
}

/// A written record; removed when dropped (the session's run ended or the session closed).
#[derive(Debug)]
pub struct Link {
    path: PathBuf,
}

impl Link {
    /// Records that this process's session runs `run`.
    pub fn write(data_dir: &DataDir, run: RunId) -> io::Result<Link> {
        let dir = dir(data_dir);
        fs::create_dir_all(&dir)?;
        let pid = std::process::id();
        let record = Record {
            pid,
            agent: process::parent_id(),
            run,
        };
        let path = dir.join(format!("{pid}.json"));
        let text = serde_json::to_string(&record).map_err(io::Error::other)?;
        let partial = dir.join(format!(".{pid}.json.partial"));
        fs::write(&partial, text)?;
        fs::rename(&partial, &path)?;
        Ok(Link { path })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn dir(data_dir: &DataDir) -> PathBuf {
    data_dir.path().join("mcp-sessions")
}

/// The records of live sessions of the nearest of `ancestors` (a process and its parents,
/// nearest first) that has any: an agent started by another agent acts on its own sessions,
/// never on the outer agent's lease.
pub fn sessions_of(data_dir: &DataDir, ancestors: &[u32]) -> Vec<Record> {
    let Ok(entries) = fs::read_dir(dir(data_dir)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(record) = fs::read(&path)
            .map_err(|_| ())
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).map_err(|_| ()))
        else {
            continue;
        };
        if !process::alive(record.pid) {
            let _ = fs::remove_file(&path);
            continue;
        }
        if ancestors.contains(&record.agent) {
            found.push(record);
        }
    }
    let Some(nearest) = ancestors
        .iter()
        .find(|pid| found.iter().any(|r| r.agent == **pid))
    else {
        return Vec::new();
    };
    let mut mine: Vec<Record> = found.into_iter().filter(|r| r.agent == *nearest).collect();
    mine.sort_by_key(|r| r.run);
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sessions_of_its_own_agent_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::at(dir.path());
        let link = Link::write(&data, RunId(7)).expect("write");
        let me = std::process::id();
        let parent = process::parent_id();
        // The hook of the same agent: the session's parent is among its ancestors.
        let found = sessions_of(&data, &[me, parent]);
        assert_eq!(
            found,
            vec![Record {
                pid: me,
                agent: parent,
                run: RunId(7)
            }]
        );
        // Another agent's hook.
        assert!(sessions_of(&data, &[me]).is_empty());
        drop(link);
        assert!(sessions_of(&data, &[me, parent]).is_empty());
    }

    #[test]
    fn an_inner_agent_sees_only_its_own_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::at(dir.path());
        fs::create_dir_all(super::dir(&data)).expect("mkdir");
        let me = std::process::id();
        // An outer agent (pid 2000) holds run 9; the inner agent (pid 3000) it started, run 7.
        for (file, agent, run) in [("a.json", 2000, 9), ("b.json", 3000, 7)] {
            let record = format!(r#"{{"pid":{me},"agent":{agent},"run":{run}}}"#);
            fs::write(super::dir(&data).join(file), record).expect("write");
        }
        let runs = |chain: &[u32]| -> Vec<i64> {
            sessions_of(&data, chain).iter().map(|r| r.run.0).collect()
        };
        assert_eq!(runs(&[4000, 3000, 2000]), [7]);
        assert_eq!(runs(&[4000, 2000]), [9]);
        assert!(runs(&[4000]).is_empty());
    }

    #[test]
    fn records_of_dead_sessions_are_ignored_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::at(dir.path());
        fs::create_dir_all(super::dir(&data)).expect("mkdir");
        let stale = super::dir(&data).join("999999999.json");
        fs::write(&stale, r#"{"pid":999999999,"agent":1,"run":3}"#).expect("write");
        assert!(sessions_of(&data, &[1]).is_empty());
        assert!(!stale.exists());
    }
}
