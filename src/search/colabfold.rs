//! ColabFold's MSA protocol with local MMseqs2 databases: the steps `colabfold_search` runs
//! (sokrypton/ColabFold, `colabfold/mmseqs/search.py`, v1.6.3; the facts are read from there, the code
//! is ours), on the databases ColabFold's `setup_databases.sh` lays out, for a whole batch of queries at
//! once: one MMseqs2 invocation per step for every query of a run.
//!
//! Per database (UniRef30, then the environmental ColabFoldDB): an iterative profile search (3
//! iterations, E ≤ 0.1, ≤ 10,000 hits), `expandaln` from the hit clusters to their members, `align`
//! of the members to the query profile, `filterresult` (`--qsc` 0.8 when filtering) and `result2msa`
//! into A3M with ColabFold's diversity filter. The two A3Ms are merged per query (`mergedbs`), UniRef30
//! first: one alignment per query, which ColabFold reads as a monomer's MSA.
//!
//! Every step is skipped when its output database is complete (its `.dbtype` is written last), so a
//! batch interrupted at any point resumes where it stopped; the work folder is the caller's and is
//! removed once the alignments are out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tracing::info;

use super::tools::{self, ToolError};

/// UniRef30 as `setup_databases.sh` names it (its default release).
pub const UNIREF_DB: &str = "uniref30_2302_db";
/// The environmental database as `setup_databases.sh` names it.
pub const ENV_DB: &str = "colabfold_envdb_202108_db";
/// ColabFold's name of the environmental alignment.
pub const ENV_A3M: &str = "bfd.mgnify30.metaeuk30.smag30.a3m";

/// MMseqs2's database types (`Parameters.h`), by the low 16 bits of `<db>.dbtype`.
fn dbtype_name(t: u32) -> &'static str {
    match t {
        0 => "protein sequences",
        1 => "nucleotide sequences",
        2 => "profiles",
        5 => "alignments",
        6 => "clusters",
        7 => "prefilter results",
        9 => "an index",
        10 => "compressed A3M",
        11 => "MSAs",
        12 => "generic data",
        _ => "an unknown type",
    }
}

/// The type of the MMseqs2 database at `prefix` (`<prefix>.dbtype`: a little-endian int whose low 16
/// bits are the type, the high ones flags such as compression).
pub fn dbtype(prefix: &Path) -> Result<u32, String> {
    let p = with_suffix(prefix, ".dbtype");
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let b: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!(
                "{}: {} bytes, not an MMseqs2 database type (4 bytes)",
                p.display(),
                bytes.len()
            )
        })?;
    Ok(u32::from_le_bytes(b) & 0xFFFF)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// One of ColabFold's "expandable profile" databases: `<name>` (the cluster representatives, searched),
/// `<name>_seq` (every member), `<name>_aln` (representative → member alignments), `<name>_seq_h`
/// (headers); or, when `createindex` was run, `<name>.idx` holding all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandableDb {
    /// `<dir>/<name>`.
    pub prefix: PathBuf,
    /// `<name>.idx` exists (ColabFold then reads members and alignments from the index).
    pub indexed: bool,
}

impl ExpandableDb {
    /// The members (`_seq`, or the index).
    fn members(&self) -> PathBuf {
        with_suffix(&self.prefix, if self.indexed { ".idx" } else { "_seq" })
    }

    /// The cluster alignments (`_aln`, or the index).
    fn alignments(&self) -> PathBuf {
        with_suffix(&self.prefix, if self.indexed { ".idx" } else { "_aln" })
    }

    /// The files that must exist, in the order they are checked.
    fn required_files(&self) -> Vec<PathBuf> {
        // An index (`<name>.idx` or `<name>.idx.index`, which is what made it `indexed`) holds the parts.
        let parts: &[&str] = if self.indexed {
            &[".dbtype", ".index"]
        } else {
            &[
                ".dbtype",
                ".index",
                "_seq.dbtype",
                "_seq.index",
                "_aln.dbtype",
                "_aln.index",
                "_seq_h.dbtype",
                "_seq_h.index",
            ]
        };
        parts.iter().map(|s| with_suffix(&self.prefix, s)).collect()
    }

    /// Every file of the database (data files may be split: `<db>`, `<db>.0`, `<db>.1`, ...): what ties
    /// an alignment to the databases it came from.
    fn all_files(&self) -> Vec<PathBuf> {
        let dir = self.prefix.parent().unwrap_or(Path::new("."));
        let name = self
            .prefix
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n == name
                        || n.strip_prefix(name.as_str())
                            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('_'))
                })
            })
            .collect();
        files.sort();
        files
    }

    /// Checks that the files exist and that each part has the type ColabFold's steps need.
    fn check(&self, what: &str) -> Result<(), String> {
        let missing: Vec<String> = self
            .required_files()
            .into_iter()
            .filter(|f| !f.is_file())
            .map(|f| f.display().to_string())
            .collect();
        let data_missing = !self.prefix.is_file() && !with_suffix(&self.prefix, ".0").is_file();
        if !missing.is_empty() || data_missing {
            let mut all = missing;
            if data_missing {
                all.insert(0, self.prefix.display().to_string());
            }
            return Err(format!("{what}: missing {} ({})", all.join(", "), LAYOUT));
        }
        let main = dbtype(&self.prefix)?;
        if main != 0 && main != 2 {
            return Err(format!(
                "{what}: {} holds {} (type {main}); ColabFold's search needs protein sequences or profiles",
                self.prefix.display(),
                dbtype_name(main)
            ));
        }
        if !self.indexed {
            for (suffix, want) in [("_seq", 0), ("_aln", 5)] {
                let p = with_suffix(&self.prefix, suffix);
                let t = dbtype(&p)?;
                if t != want {
                    return Err(format!(
                        "{what}: {} holds {} (type {t}); it must hold {} (type {want})",
                        p.display(),
                        dbtype_name(t),
                        dbtype_name(want)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How the databases are laid out, for error messages.
pub const LAYOUT: &str = "ColabFold's layout, as setup_databases.sh writes it: <name>, <name>.dbtype, <name>.index, and either <name>.idx (after createindex) or <name>_seq, <name>_aln and <name>_seq_h with their .dbtype and .index files";

/// The databases of a ColabFold search below one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColabfoldDatabases {
    pub uniref: ExpandableDb,
    /// The environmental database (`None`: UniRef30 only, ColabFold's `mmseqs2_uniref` mode).
    pub env: Option<ExpandableDb>,
}

/// `dir/<name>` when `<name>.dbtype` is there, else the one `<stem>*_db.dbtype` (other releases), if
/// exactly one; the error names what was looked for.
fn find_db(dir: &Path, name: &str, others: &[&str]) -> Result<PathBuf, String> {
    if with_suffix(&dir.join(name), ".dbtype").is_file() || dir.join(name).is_file() {
        return Ok(dir.join(name));
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let db = n.strip_suffix(".dbtype")?.to_string();
            others
                .iter()
                .any(|o| db.starts_with(o) && (db.ends_with("_db") || db == *o))
                .then_some(db)
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(dir.join(&found[0])),
        0 => Err(format!(
            "{}: no {name} ({LAYOUT}; get them with ColabFold's setup_databases.sh {})",
            dir.display(),
            dir.display()
        )),
        _ => Err(format!(
            "{}: several candidates for {name} ({}); keep one in the folder",
            dir.display(),
            found.join(", ")
        )),
    }
}

impl ColabfoldDatabases {
    /// Finds and checks the databases in `dir`: UniRef30 (`uniref30_2302_db`, or another
    /// `uniref30_*_db` release), and with `use_env` the environmental database
    /// (`colabfold_envdb_202108_db`, another `colabfold_envdb_*_db`, or `bfd_mgy_colabfold`).
    pub fn locate(dir: &Path, use_env: bool) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!(
                "{}: no such folder (--data-dir with ColabFold's MMseqs2 databases)",
                dir.display()
            ));
        }
        let open = |prefix: PathBuf, what: &str| -> Result<ExpandableDb, String> {
            let indexed = with_suffix(&prefix, ".idx").is_file()
                || with_suffix(&prefix, ".idx.index").is_file();
            let db = ExpandableDb { prefix, indexed };
            db.check(what)?;
            Ok(db)
        };
        let uniref = open(find_db(dir, UNIREF_DB, &["uniref30_"])?, "UniRef30")?;
        let env = if use_env {
            Some(open(
                find_db(dir, ENV_DB, &["colabfold_envdb_", "bfd_mgy_colabfold"])?,
                "environmental database",
            )?)
        } else {
            None
        };
        Ok(Self { uniref, env })
    }

    /// Path, size and modification time of every file of the databases.
    pub fn fingerprint(&self) -> String {
        let mut parts = Vec::new();
        for db in std::iter::once(&self.uniref).chain(&self.env) {
            for f in db.all_files() {
                let meta = std::fs::metadata(&f).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                let mtime = meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                parts.push(format!("{}|{len}|{mtime}", f.display()));
            }
        }
        parts.join(";")
    }
}

/// colabfold_search's settings (its defaults; `filter` on, as `colabfold_search --filter 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColabfoldSettings {
    /// MMseqs2 sensitivity (`-s`); `None`: the k-mer thresholds of ColabFold's server
    /// (`--k-score seq:96,prof:80`, about sensitivity 8), colabfold_search's default.
    pub sensitivity: Option<f32>,
    /// ColabFold's MSA filtering (align E ≤ 10, `--qsc 0.8`, at most 100,000 accepted alignments,
    /// cluster filtering during expansion).
    pub filter: bool,
    /// Rows `result2msa`'s diversity filter keeps at least (`--diff`, 3,000).
    pub diff: u32,
}

impl Default for ColabfoldSettings {
    fn default() -> Self {
        Self {
            sensitivity: None,
            filter: true,
            diff: 3000,
        }
    }
}

/// One MMseqs2 run of the protocol.
struct Steps<'a> {
    mmseqs: &'a Path,
    work: &'a Path,
    threads: String,
    timeout: Duration,
}

impl Steps<'_> {
    fn path(&self, name: &str) -> OsString {
        self.work.join(name).into_os_string()
    }

    /// Runs `mmseqs args` unless `output` (a database in the work folder) is complete already.
    fn step(&self, output: &str, args: Vec<OsString>) -> Result<(), ToolError> {
        if with_suffix(&self.work.join(output), ".dbtype").is_file() {
            info!(
                "colabfold search: {output} is complete, {} skipped",
                args[0].to_string_lossy()
            );
            return Ok(());
        }
        // MMSEQS_CALL_DEPTH=1 keeps MMseqs2's workflows from printing their parameter lists.
        tools::run_with_env(
            "mmseqs",
            self.mmseqs,
            &args,
            &[("MMSEQS_CALL_DEPTH", "1")],
            self.timeout,
        )
    }
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

/// Runs colabfold_search's steps for `sequences` (each searched once; give them de-duplicated) in
/// `work`, and returns each sequence's A3M (UniRef30 rows, then the environmental rows), in order.
///
/// The query rows are named `101`, as ColabFold names a monomer's query.
pub fn search_batch(
    mmseqs: &Path,
    databases: &ColabfoldDatabases,
    settings: &ColabfoldSettings,
    sequences: &[String],
    work: &Path,
    threads: usize,
    timeout: Duration,
) -> Result<Vec<String>, ToolError> {
    let io = |e: std::io::Error| ToolError::Io {
        tool: "mmseqs".into(),
        message: format!("{}: {e}", work.display()),
    };
    std::fs::create_dir_all(work).map_err(io)?;
    let s = Steps {
        mmseqs,
        work,
        threads: threads.max(1).to_string(),
        timeout,
    };
    let p = |name: &str| s.path(name);
    let threads = s.threads.as_str();
    // colabfold_search's parameters: with filtering, align E ≤ 10, --qsc 0.8, 100,000 accepted; without,
    // its defaults (align E ≤ 10, --qsc -20, 1,000,000).
    let (align_eval, qsc, max_accept) = if settings.filter {
        ("10", "0.8", "100000")
    } else {
        ("10", "-20.0", "1000000")
    };
    let filter = if settings.filter { "1" } else { "0" };
    // ColabFold's CLI default: --db-load-mode 0 (automatic).
    let load = "0";
    let mut search_param = os(&[
        "--num-iterations",
        "3",
        "--db-load-mode",
        load,
        "-a",
        "-e",
        "0.1",
        "--max-seqs",
        "10000",
    ]);
    // DISCREPANCY: colabfold_search passes its default k-mer thresholds as `'seq:96,prof:80'` with the
    // quote characters inside the argument (no shell removes them), which MMseqs2 parses as other
    // thresholds (fewer hits: 27 instead of 71 result lines on the test queries); ferrofold passes
    // the thresholds ColabFold means, those of its server. colabfold_search 1.6.3 also passes
    // `--prefilter-mode 0`, MMseqs2's default, which MMseqs2 14 (Debian's) does not know: left out.
    match settings.sensitivity {
        Some(sens) => search_param.extend(os(&["-s", &format!("{sens:.1}")])),
        None => search_param.extend(os(&["--k-score", "seq:96,prof:80"])),
    }
    let diff = settings.diff.to_string();
    let filter_param = os(&[
        "--filter-msa",
        filter,
        "--filter-min-enable",
        "1000",
        "--diff",
        &diff,
        "--qid",
        "0.0,0.2,0.4,0.6,0.8,1.0",
        "--qsc",
        "0",
        "--max-seq-id",
        "0.95",
    ]);

    // The queries, in order, each named 101 (ColabFold's name of a monomer's query); keys 0, 1, ...
    let mut fasta = String::new();
    for seq in sequences {
        fasta.push_str(">101\n");
        fasta.push_str(seq);
        fasta.push('\n');
    }
    let query = work.join("query.fas");
    if !with_suffix(&work.join("qdb"), ".dbtype").is_file() {
        crate::fsutil::atomic::write_bytes(&query, fasta.as_bytes()).map_err(io)?;
    }
    let mut args = vec![OsString::from("createdb"), query.into_os_string(), p("qdb")];
    args.extend(os(&["--shuffle", "0", "--dbtype", "1"]));
    s.step("qdb", args)?;

    // UniRef30.
    let u = &databases.uniref;
    let mut a = vec![
        "search".into(),
        p("qdb"),
        u.prefix.clone().into(),
        p("res"),
        p("tmp"),
    ];
    a.extend(os(&["--threads", threads]));
    a.extend(search_param.iter().cloned());
    s.step("res", a)?;
    s.step(
        "prof_res",
        vec!["mvdb".into(), p("tmp/latest/profile_1"), p("prof_res")],
    )?;
    s.step(
        "prof_res_h",
        vec!["lndb".into(), p("qdb_h"), p("prof_res_h")],
    )?;
    let mut a = vec![
        "expandaln".into(),
        p("qdb"),
        u.members().into(),
        p("res"),
        u.alignments().into(),
        p("res_exp"),
    ];
    a.extend(os(&[
        "--db-load-mode",
        load,
        "--threads",
        threads,
        "--expansion-mode",
        "0",
        "-e",
        "inf",
        "--expand-filter-clusters",
        filter,
        "--max-seq-id",
        "0.95",
    ]));
    s.step("res_exp", a)?;
    // `<sub> <first> <db members> <input> <output> flags...`, the shape of the last three steps.
    let member_step = |sub: &str,
                       first: OsString,
                       db: &ExpandableDb,
                       input: &str,
                       output: &str,
                       flags: &[OsString]| {
        let mut a = vec![sub.into(), first, db.members().into(), p(input), p(output)];
        a.extend(flags.iter().cloned());
        s.step(output, a)
    };
    let realign_flags = os(&[
        "--db-load-mode",
        load,
        "-e",
        align_eval,
        "--max-accept",
        max_accept,
        "--threads",
        threads,
        "--alt-ali",
        "10",
        "-a",
    ]);
    let filter_flags = os(&[
        "--db-load-mode",
        load,
        "--qid",
        "0",
        "--qsc",
        qsc,
        "--diff",
        "0",
        "--threads",
        threads,
        "--max-seq-id",
        "1.0",
        "--filter-min-enable",
        "100",
    ]);
    let mut msa_flags = os(&[
        "--msa-format-mode",
        "6",
        "--db-load-mode",
        load,
        "--threads",
        threads,
    ]);
    msa_flags.extend(filter_param.iter().cloned());
    let realign = |query_profile: OsString, db: &ExpandableDb, input: &str, output: &str| {
        member_step("align", query_profile, db, input, output, &realign_flags)
    };
    let filter_result = |db: &ExpandableDb, input: &str, output: &str| {
        member_step("filterresult", p("qdb"), db, input, output, &filter_flags)
    };
    let to_msa = |db: &ExpandableDb, input: &str, output: &str| {
        member_step("result2msa", p("qdb"), db, input, output, &msa_flags)
    };
    realign(p("prof_res"), u, "res_exp", "res_exp_realign")?;
    filter_result(u, "res_exp_realign", "res_exp_realign_filter")?;
    to_msa(u, "res_exp_realign_filter", "uniref.a3m")?;

    // The environmental database, searched with the UniRef30 profiles.
    if let Some(e) = &databases.env {
        let mut a = vec![
            "search".into(),
            p("prof_res"),
            e.prefix.clone().into(),
            p("res_env"),
            p("tmp3"),
        ];
        a.extend(os(&["--threads", threads]));
        a.extend(search_param.iter().cloned());
        s.step("res_env", a)?;
        let mut a = vec![
            "expandaln".into(),
            p("prof_res"),
            e.members().into(),
            p("res_env"),
            e.alignments().into(),
            p("res_env_exp"),
        ];
        a.extend(os(&[
            "-e",
            "inf",
            "--expansion-mode",
            "0",
            "--db-load-mode",
            load,
            "--threads",
            threads,
        ]));
        s.step("res_env_exp", a)?;
        realign(
            p("tmp3/latest/profile_1"),
            e,
            "res_env_exp",
            "res_env_exp_realign",
        )?;
        filter_result(e, "res_env_exp_realign", "res_env_exp_realign_filter")?;
        to_msa(e, "res_env_exp_realign_filter", ENV_A3M)?;
        s.step(
            "final.a3m",
            vec![
                "mergedbs".into(),
                p("qdb"),
                p("final.a3m"),
                p("uniref.a3m"),
                p(ENV_A3M),
            ],
        )?;
    } else {
        s.step(
            "final.a3m",
            vec!["mvdb".into(), p("uniref.a3m"), p("final.a3m")],
        )?;
    }
    read_db_entries(&work.join("final.a3m"), sequences.len()).map_err(|message| ToolError::Io {
        tool: "mmseqs".into(),
        message,
    })
}

/// The entries of the MMseqs2 database `db` with keys `0..n`, as text (entry terminators removed).
/// The index lists `key offset length` per entry; data may be split into `<db>.0`, `<db>.1`, ... in
/// which case offsets are into the concatenation of the parts.
pub fn read_db_entries(db: &Path, n: usize) -> Result<Vec<String>, String> {
    let index_path = with_suffix(db, ".index");
    let index = std::fs::read_to_string(&index_path)
        .map_err(|e| format!("{}: {e}", index_path.display()))?;
    let data = if db.is_file() {
        std::fs::read(db).map_err(|e| format!("{}: {e}", db.display()))?
    } else {
        let mut all = Vec::new();
        for i in 0.. {
            let part = with_suffix(db, &format!(".{i}"));
            if !part.is_file() {
                break;
            }
            all.extend(std::fs::read(&part).map_err(|e| format!("{}: {e}", part.display()))?);
        }
        all
    };
    let mut out = vec![None; n];
    for (line_no, line) in index.lines().enumerate() {
        let bad = || {
            format!(
                "{}: line {}: {line:?} is not `key offset length`",
                index_path.display(),
                line_no + 1
            )
        };
        let mut f = line.split('\t');
        let (Some(k), Some(o), Some(l)) = (f.next(), f.next(), f.next()) else {
            return Err(bad());
        };
        let (k, o, l): (usize, usize, usize) = (
            k.parse().map_err(|_| bad())?,
            o.parse().map_err(|_| bad())?,
            l.parse().map_err(|_| bad())?,
        );
        let bytes = data.get(o..o + l).ok_or_else(|| {
            format!(
                "{}: entry {k} (bytes {o}..{}) lies beyond its data ({} bytes)",
                index_path.display(),
                o + l,
                data.len()
            )
        })?;
        if let Some(slot) = out.get_mut(k) {
            let text: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
            *slot = Some(String::from_utf8_lossy(&text).into_owned());
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(k, e)| e.ok_or_else(|| format!("{}: no entry for query {k}", db.display())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_types_and_split_entries_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x");
        std::fs::write(with_suffix(&db, ".dbtype"), [1u8, 0, 2, 0]).unwrap();
        assert_eq!(dbtype(&db).unwrap(), 1);
        std::fs::write(with_suffix(&db, ".dbtype"), [0u8, 0]).unwrap();
        assert!(dbtype(&db).unwrap_err().contains("2 bytes"));
        // Two entries split over two data files; offsets run over their concatenation.
        std::fs::write(with_suffix(&db, ".0"), b">101\nMK\n\0").unwrap();
        std::fs::write(with_suffix(&db, ".1"), b">101\nAC\n\0").unwrap();
        std::fs::write(with_suffix(&db, ".index"), "1\t9\t9\n0\t0\t9\n").unwrap();
        assert_eq!(
            read_db_entries(&db, 2).unwrap(),
            [">101\nMK\n", ">101\nAC\n"]
        );
        assert!(read_db_entries(&db, 3)
            .unwrap_err()
            .contains("no entry for query 2"));
        std::fs::write(with_suffix(&db, ".index"), "0\t0\t90\n").unwrap();
        assert!(read_db_entries(&db, 1).unwrap_err().contains("beyond"));
    }

    #[test]
    fn missing_and_mistyped_databases_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = ColabfoldDatabases::locate(dir.path(), true).unwrap_err();
        assert!(
            e.contains("no uniref30_2302_db") && e.contains("setup_databases.sh"),
            "{e}"
        );
        let u = dir.path().join(UNIREF_DB);
        for s in [
            "",
            ".dbtype",
            ".index",
            "_seq",
            "_seq.index",
            "_aln",
            "_aln.index",
            "_seq_h",
            "_seq_h.index",
        ] {
            std::fs::write(with_suffix(&u, s), [0u8, 0, 0, 0]).unwrap();
        }
        std::fs::write(with_suffix(&u, "_aln.dbtype"), [5u8, 0, 0, 0]).unwrap();
        let e = ColabfoldDatabases::locate(dir.path(), false).unwrap_err();
        assert!(
            e.contains("_seq.dbtype") && e.contains("_seq_h.dbtype") && !e.contains("_aln.dbtype"),
            "{e}"
        );
        for s in ["_seq.dbtype", "_seq_h.dbtype"] {
            std::fs::write(with_suffix(&u, s), [0u8, 0, 0, 0]).unwrap();
        }
        let ok = ColabfoldDatabases::locate(dir.path(), false).unwrap();
        assert!(!ok.uniref.indexed && ok.env.is_none());
        std::fs::write(with_suffix(&u, ".dbtype"), [1u8, 0, 0, 0]).unwrap();
        let e = ColabfoldDatabases::locate(dir.path(), false).unwrap_err();
        assert!(e.contains("nucleotide"), "{e}");
        std::fs::write(with_suffix(&u, ".dbtype"), [2u8, 0, 0, 0]).unwrap();
        std::fs::write(with_suffix(&u, "_seq.dbtype"), [2u8, 0, 0, 0]).unwrap();
        let e = ColabfoldDatabases::locate(dir.path(), false).unwrap_err();
        assert!(e.contains("_seq holds profiles"), "{e}");
        std::fs::write(with_suffix(&u, "_seq.dbtype"), [0u8, 0, 0, 0]).unwrap();
        let e = ColabfoldDatabases::locate(dir.path(), true).unwrap_err();
        assert!(e.contains("no colabfold_envdb_202108_db"), "{e}");
    }
}
