//! A client of ColabFold's MSA server API (the one `colabfold_batch` uses; the facts are read from
//! sokrypton/ColabFold's `colabfold/colabfold.py`, `run_mmseqs2`):
//!
//! * `POST <url>/ticket/msa` with the form fields `q` (FASTA: the query named `101`) and `mode` (`env`:
//!   UniRef30 + environmental databases; `all`: UniRef30 only) answers JSON `{"id": …, "status": …}`;
//! * `GET <url>/ticket/<id>` answers the status: `PENDING`, `RUNNING`, `UNKNOWN` (wait and ask again),
//!   `COMPLETE`, `ERROR`, or on submission `RATELIMIT` (too many requests from this address) and
//!   `MAINTENANCE`;
//! * `GET <url>/result/download/<id>` sends a `.tar.gz` holding `uniref.a3m` and, in `env` mode,
//!   `bfd.mgnify30.metaeuk30.smag30.a3m`: the alignments of every query, NUL-separated, each starting
//!   with its query row.
//!
//! Results are kept per (server, mode, sequence) in a cache folder, so reruns and the tasks of a job
//! array never submit a sequence twice; the ticket of a submitted search is kept too, so a run
//! interrupted while waiting asks for the same ticket instead of submitting again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

use super::colabfold::ENV_A3M;
use crate::fsutil::checksum::InputHash;

/// Which databases the server searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// UniRef30 and the environmental databases (ColabFold's `mmseqs2_uniref_env`, its default).
    Env,
    /// UniRef30 only (`mmseqs2_uniref`).
    All,
}

impl ServerMode {
    /// The `mode` form field.
    pub fn field(self) -> &'static str {
        match self {
            ServerMode::Env => "env",
            ServerMode::All => "all",
        }
    }
}

/// A server and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct MsaServer {
    /// Base URL, e.g. `https://api.colabfold.com`.
    pub url: String,
    pub mode: ServerMode,
    /// Sent as `User-Agent` (the server's operators ask for one that names the tool).
    pub user_agent: String,
    /// First wait between status requests; each later wait is 1.5× longer, up to a minute.
    pub poll: Duration,
    /// Give up waiting for one search after this long.
    pub timeout: Duration,
    /// How many times a `RATELIMIT` answer is waited out before giving up.
    pub rate_limit_retries: u32,
}

impl MsaServer {
    /// A client with ferrofold's defaults: a user agent naming ferrofold and its version, status
    /// requests from every 5 s, an hour per search, three rate-limit retries.
    pub fn new(url: &str, mode: ServerMode) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            mode,
            user_agent: format!(
                "ferrofold/{} (https://github.com/ferrofold/ferrofold)",
                env!("CARGO_PKG_VERSION")
            ),
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(3600),
            rate_limit_retries: 3,
        }
    }

    /// What a cached result is filed under: the server, the mode and the sequence.
    pub fn cache_key(&self, sequence: &str) -> String {
        let mut h = InputHash::new("ferrofold msa server");
        h.add(&self.url).add(self.mode.field()).add(sequence);
        h.finish()
    }
}

/// Errors talking to the server; each names the server and what it said.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("MSA server {url}: {message}")]
    Http { url: String, message: String },
    #[error("MSA server {url} is rate limiting this machine (RATELIMIT, {tries} tries over {waited_s} s): wait a while and run again (finished targets are kept and not submitted again)")]
    RateLimited {
        url: String,
        tries: u32,
        waited_s: u64,
    },
    #[error("MSA server {url} is down for maintenance (MAINTENANCE): try again later, or search locally with --db-preset colabfold")]
    Maintenance { url: String },
    #[error("MSA server {url} refused the search (ERROR) of ticket {id}: check that the sequence is a valid protein; if it is, the server is failing: try later")]
    Refused { url: String, id: String },
    #[error(
        "MSA server {url}: ticket {id} did not finish within {seconds} s (last status {status})"
    )]
    Timeout {
        url: String,
        id: String,
        seconds: u64,
        status: String,
    },
    #[error("MSA server {url}: the result archive of ticket {id} is malformed: {message}")]
    Archive {
        url: String,
        id: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The server's answer to a submission or status request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ticket {
    id: Option<String>,
    status: String,
}

impl MsaServer {
    fn http(&self, message: impl Into<String>) -> ServerError {
        ServerError::Http {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    fn ticket(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<Ticket, ServerError> {
        let mut resp = resp.map_err(|e| self.http(format!("{what}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| self.http(format!("{what}: {e}")))?;
        if status == 429 {
            return Ok(Ticket {
                id: None,
                status: "RATELIMIT".into(),
            });
        }
        if status == 503 {
            return Ok(Ticket {
                id: None,
                status: "MAINTENANCE".into(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(self.http(format!("{what}: HTTP status {status}: {}", snippet(&body))));
        }
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
            self.http(format!(
                "{what}: the answer is not JSON: {}",
                snippet(&body)
            ))
        })?;
        let status = v
            .get("status")
            .and_then(|s| s.as_str())
            .ok_or_else(|| {
                self.http(format!(
                    "{what}: the answer has no status: {}",
                    snippet(&body)
                ))
            })?
            .to_string();
        let id = v.get("id").and_then(|s| s.as_str()).map(str::to_string);
        Ok(Ticket { id, status })
    }

    /// Submits `sequences` (named 101, 102, ...) to `endpoint` (`msa` or `pair`) in `mode`.
    fn submit(
        &self,
        endpoint: &str,
        mode: &str,
        sequences: &[String],
    ) -> Result<Ticket, ServerError> {
        let q: String = sequences
            .iter()
            .enumerate()
            .map(|(k, s)| format!(">{}\n{s}\n", 101 + k))
            .collect();
        let resp = agent()
            .post(format!("{}/ticket/{endpoint}", self.url))
            .header("User-Agent", &self.user_agent)
            .send_form([("q", q.as_str()), ("mode", mode)]);
        self.ticket(resp, "submitting")
    }

    fn status(&self, id: &str) -> Result<Ticket, ServerError> {
        let resp = agent()
            .get(format!("{}/ticket/{id}", self.url))
            .header("User-Agent", &self.user_agent)
            .call();
        self.ticket(resp, "asking for the status")
    }

    fn download(&self, id: &str) -> Result<Vec<u8>, ServerError> {
        let mut resp = agent()
            .get(format!("{}/result/download/{id}", self.url))
            .header("User-Agent", &self.user_agent)
            .call()
            .map_err(|e| self.http(format!("downloading ticket {id}: {e}")))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(self.http(format!("downloading ticket {id}: HTTP status {status}")));
        }
        resp.body_mut()
            .with_config()
            .limit(1 << 32)
            .read_to_vec()
            .map_err(|e| self.http(format!("downloading ticket {id}: {e}")))
    }

    /// Submits `sequence` until the server takes it (waiting out `RATELIMIT`/`UNKNOWN` answers a few
    /// times); returns its ticket id.
    fn submit_accepted(
        &self,
        endpoint: &str,
        mode: &str,
        sequences: &[String],
    ) -> Result<String, ServerError> {
        let mut wait = self.poll;
        let mut waited = Duration::ZERO;
        let mut tries = 0;
        loop {
            let t = self.submit(endpoint, mode, sequences)?;
            tries += 1;
            match t.status.as_str() {
                "MAINTENANCE" => {
                    return Err(ServerError::Maintenance {
                        url: self.url.clone(),
                    })
                }
                "RATELIMIT" | "UNKNOWN" if tries > self.rate_limit_retries => {
                    return Err(ServerError::RateLimited {
                        url: self.url.clone(),
                        tries,
                        waited_s: waited.as_secs(),
                    })
                }
                "RATELIMIT" | "UNKNOWN" => {
                    warn!(
                        "MSA server {} answered {}; submitting again in {:.1} s",
                        self.url,
                        t.status,
                        wait.as_secs_f64()
                    );
                    std::thread::sleep(wait);
                    waited += wait;
                    wait = (wait * 3 / 2).min(Duration::from_secs(60));
                }
                "ERROR" => {
                    return Err(ServerError::Refused {
                        url: self.url.clone(),
                        id: t.id.unwrap_or_else(|| "-".into()),
                    })
                }
                _ => {
                    return t.id.ok_or_else(|| {
                        self.http(format!(
                            "the answer to a submission ({}) has no ticket id",
                            t.status
                        ))
                    })
                }
            }
        }
    }

    /// Waits for ticket `id` to complete.
    fn wait_for(&self, id: &str) -> Result<(), ServerError> {
        let start = std::time::Instant::now();
        let mut wait = self.poll;
        let _spinner = crate::progress::spinner(&format!("MSA server: ticket {id}"));
        loop {
            let t = self.status(id)?;
            match t.status.as_str() {
                "COMPLETE" => return Ok(()),
                "ERROR" => {
                    return Err(ServerError::Refused {
                        url: self.url.clone(),
                        id: id.into(),
                    })
                }
                "MAINTENANCE" => {
                    return Err(ServerError::Maintenance {
                        url: self.url.clone(),
                    })
                }
                "PENDING" | "RUNNING" | "UNKNOWN" => {}
                other => return Err(self.http(format!("ticket {id}: unexpected status {other:?}"))),
            }
            if start.elapsed() > self.timeout {
                return Err(ServerError::Timeout {
                    url: self.url.clone(),
                    id: id.into(),
                    seconds: self.timeout.as_secs(),
                    status: t.status,
                });
            }
            std::thread::sleep(wait);
            wait = (wait * 3 / 2).min(Duration::from_secs(60));
        }
    }

    /// The alignment of `sequence` (UniRef30 rows, then in `env` mode the environmental rows, as
    /// ColabFold joins them), from `cache` when it was fetched before, else from the server (then kept
    /// in `cache`).
    pub fn alignment(&self, sequence: &str, cache: &Path) -> Result<String, ServerError> {
        let seqs = [sequence.to_string()];
        let mut names = vec!["uniref.a3m"];
        if self.mode == ServerMode::Env {
            names.push(ENV_A3M);
        }
        let mut v = self.fetch(
            "msa",
            self.mode.field(),
            &seqs,
            &names,
            &self.cache_key(sequence),
            cache,
        )?;
        Ok(v.remove(0))
    }

    /// The paired alignments of a heteromer's distinct chains (ColabFold's `pair` endpoint, greedy
    /// pairing over UniRef30: row k of every chain's alignment belongs together), in order; kept in
    /// `cache` for this set of chains.
    pub fn paired_alignments(
        &self,
        sequences: &[String],
        cache: &Path,
    ) -> Result<Vec<String>, ServerError> {
        let key = {
            let mut h = InputHash::new("ferrofold msa server pairs");
            h.add(&self.url).add("pairgreedy");
            for s in sequences {
                h.add(s);
            }
            h.finish()
        };
        self.fetch("pair", "pairgreedy", sequences, &["pair.a3m"], &key, cache)
    }

    /// Each of `sequences`' alignment from the archive files `names` (joined in that order), from
    /// `cache/<key>.a3m` (NUL-separated, one per sequence) when kept, else from the server.
    fn fetch(
        &self,
        endpoint: &str,
        mode: &str,
        sequences: &[String],
        names: &[&str],
        key: &str,
        cache: &Path,
    ) -> Result<Vec<String>, ServerError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e: std::io::Error| ServerError::Io {
                path: p.clone(),
                message: e.to_string(),
            }
        };
        let done = cache.join(format!("{key}.a3m"));
        if let Ok(text) = crate::fsutil::regular::read(&done) {
            let text = String::from_utf8_lossy(&text).into_owned();
            let parts: Vec<String> = text.split('\0').map(str::to_string).collect();
            if parts.len() == sequences.len()
                && parts.iter().zip(sequences).all(|(p, s)| first_row_is(p, s))
            {
                info!(
                    "MSA server result for these sequences is cached in {}; not submitted again",
                    done.display()
                );
                return Ok(parts);
            }
            warn!(
                "{}: not these sequences' alignments; fetching them again",
                done.display()
            );
        }
        std::fs::create_dir_all(cache).map_err(io(cache))?;
        let ticket_file = cache.join(format!("{key}.ticket"));
        let kept = std::fs::read_to_string(&ticket_file)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        // A ticket an earlier run submitted is asked for first; one the server no longer knows (or
        // that failed) is submitted again.
        let earlier = match kept {
            Some(id) => match self.status(&id)?.status.as_str() {
                "COMPLETE" | "RUNNING" | "PENDING" => Some(id),
                _ => None,
            },
            None => None,
        };
        let id = match earlier {
            Some(id) => {
                info!("MSA server: waiting for ticket {id} of an earlier run");
                id
            }
            None => {
                let id = self.submit_accepted(endpoint, mode, sequences)?;
                info!(
                    "MSA server {}: submitted ({endpoint}, {mode}), ticket {id}",
                    self.url
                );
                crate::fsutil::atomic::write_bytes(&ticket_file, id.as_bytes())
                    .map_err(io(&ticket_file))?;
                id
            }
        };
        self.wait_for(&id)?;
        let archive = self.download(&id)?;
        let parts = unpack(&archive, sequences, names).map_err(|message| ServerError::Archive {
            url: self.url.clone(),
            id: id.clone(),
            message,
        })?;
        crate::fsutil::atomic::write_bytes(&done, parts.join("\0").as_bytes())
            .map_err(io(&done))?;
        let _ = std::fs::remove_file(&ticket_file);
        Ok(parts)
    }
}

/// Each sequence's alignment (entry `101 + k`) from a result archive's files `names`, joined in that
/// order; each part's query row must be the sequence submitted.
fn unpack(archive: &[u8], sequences: &[String], names: &[&str]) -> Result<Vec<String>, String> {
    let mut files = std::collections::HashMap::new();
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let entries = tar.entries().map_err(|e| format!("not a .tar.gz ({e})"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("truncated or corrupt ({e})"))?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if names.contains(&name.as_str()) {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| format!("{name}: truncated or corrupt ({e})"))?;
            files.insert(name, text);
        }
    }
    let mut out = Vec::new();
    for (k, sequence) in sequences.iter().enumerate() {
        let query = (101 + k).to_string();
        let mut joined = String::new();
        for name in names {
            let bytes = files
                .get(*name)
                .ok_or_else(|| format!("it has no {name}"))?;
            let part = query_entry(bytes, &query)
                .ok_or_else(|| format!("{name} has no alignment for query {query}"))?;
            if !first_row_is(&part, sequence) {
                return Err(format!(
                    "{name}: the query row of {query} is not the sequence submitted"
                ));
            }
            joined.push_str(&part);
        }
        out.push(joined);
    }
    Ok(out)
}

/// The NUL-separated entry of `bytes` whose first header is `>name`.
fn query_entry(bytes: &[u8], name: &str) -> Option<String> {
    bytes
        .split(|&b| b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .find(|e| {
            e.trim_start()
                .lines()
                .next()
                .is_some_and(|h| h.trim_end() == format!(">{name}"))
        })
        .map(|e| {
            let e = e.trim_start().to_string();
            if e.ends_with('\n') {
                e
            } else {
                e + "\n"
            }
        })
}

/// Whether an A3M's first row is `sequence`.
fn first_row_is(a3m: &str, sequence: &str) -> bool {
    let mut lines = a3m.lines().filter(|l| !l.trim().is_empty());
    let _header = lines.next();
    let mut seq = String::new();
    for l in lines {
        if l.starts_with('>') {
            break;
        }
        seq.push_str(l.trim());
    }
    seq.eq_ignore_ascii_case(sequence)
}

fn snippet(body: &str) -> String {
    let s: String = body.chars().take(200).collect();
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_query_name() {
        let data = b">101\nMKV\n>x\nMKI\n\0>102\nAAA\n\0";
        assert_eq!(query_entry(data, "101").unwrap(), ">101\nMKV\n>x\nMKI\n");
        assert_eq!(query_entry(data, "102").unwrap(), ">102\nAAA\n");
        assert!(query_entry(data, "103").is_none());
        assert!(first_row_is(">101\nMKV\n>x\nMKI\n", "mkv"));
        assert!(!first_row_is(">101\nMKV\n", "MKVL"));
    }

    #[test]
    fn cache_keys_follow_server_mode_and_sequence() {
        let a = MsaServer::new("http://x/", ServerMode::Env);
        assert_eq!(a.url, "http://x");
        let b = MsaServer::new("http://x", ServerMode::All);
        assert_ne!(a.cache_key("MK"), b.cache_key("MK"));
        assert_ne!(a.cache_key("MK"), a.cache_key("MKV"));
        assert_eq!(
            a.cache_key("MK"),
            MsaServer::new("http://x", ServerMode::Env).cache_key("MK")
        );
        assert!(a.user_agent.starts_with("ferrofold/"));
    }
}
