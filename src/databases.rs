//! Where databases live: the demo database shipped in `databases/demo/`, and the data directory of
//! AlphaFold2's databases (`--data-dir`).

use std::path::{Path, PathBuf};

/// File name of the demo database (20,000 UniProt sequences, CC BY 4.0).
pub const DEMO_DATABASE: &str = "uniprot20k.fasta.gz";

/// The demo database's bytes, carried inside the program so that a binary copied to a cluster or
/// installed with `cargo install` (and the source tree gone) still has its default database.
static DEMO_DATABASE_BYTES: &[u8] = include_bytes!("../databases/demo/uniprot20k.fasta.gz");

/// The demo database file: `$FERROFOLD_DATABASES/demo/uniprot20k.fasta.gz` if that variable is set,
/// else `./databases/demo/uniprot20k.fasta.gz` if present (a source checkout), else the copy the program
/// carries, written once to `$XDG_CACHE_HOME/ferrofold/databases/demo/` (`~/.cache/...`) and rewritten
/// whenever its content differs from the carried bytes.
pub fn demo_database() -> PathBuf {
    if let Some(d) = std::env::var_os("FERROFOLD_DATABASES") {
        return PathBuf::from(d).join("demo").join(DEMO_DATABASE);
    }
    let local = PathBuf::from("databases").join("demo").join(DEMO_DATABASE);
    if local.is_file() {
        return local;
    }
    let cached = crate::pipeline::params::cache_dir("databases")
        .join("demo")
        .join(DEMO_DATABASE);
    match unpack_demo_database(&cached) {
        Ok(()) => cached,
        Err(e) => {
            // The search that follows names the path and fails; say why it is missing.
            tracing::error!(
                "cannot write the demo database to {}: {e}",
                cached.display()
            );
            cached
        }
    }
}

/// Writes the carried demo database to `dest` unless an identical copy is already there.
fn unpack_demo_database(dest: &Path) -> std::io::Result<()> {
    if let Ok(existing) = std::fs::read(dest) {
        if existing == DEMO_DATABASE_BYTES {
            return Ok(());
        }
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = crate::fsutil::atomic::AtomicFile::create(dest)?;
    std::io::Write::write_all(f.file(), DEMO_DATABASE_BYTES)?;
    f.commit()
}

/// One database of the manifest (`databases/manifest.tsv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: String,
    pub url: String,
    /// `plain`, `gz`, `tar.gz` or `rsync`.
    pub archive: String,
    /// Exact download size, when published.
    pub download_bytes: Option<u64>,
    pub sha256: Option<String>,
    /// File or folder below `<data-dir>/<name>/` once unpacked.
    pub unpacked: String,
    pub description: String,
}

/// The manifest shipped with ferrofold.
pub const MANIFEST: &str = include_str!("../databases/manifest.tsv");

/// Parses a manifest (tab-separated, `#` comments, one header line).
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestEntry>, String> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            return Err(format!(
                "manifest line {}: {} columns, expected 7",
                i + 1,
                f.len()
            ));
        }
        let size: u64 = f[3]
            .parse()
            .map_err(|_| format!("manifest line {}: bad size {:?}", i + 1, f[3]))?;
        out.push(ManifestEntry {
            name: f[0].into(),
            url: f[1].into(),
            archive: f[2].into(),
            download_bytes: (size > 0).then_some(size),
            sha256: (f[4] != "-").then(|| f[4].to_string()),
            unpacked: f[5].into(),
            description: f[6].into(),
        });
    }
    Ok(out)
}

/// Where each database of the manifest lives below a data directory.
pub(crate) fn database_path(data_dir: &std::path::Path, e: &ManifestEntry) -> PathBuf {
    data_dir.join(&e.name).join(&e.unpacked)
}

/// The HH-suite prefix of an unpacked HH-suite database (bfd, uniref30, pdb70) below `data_dir`, in
/// either layout: AlphaFold2's `download_all_data.sh` puts the files directly in `<name>/`
/// (`bfd/bfd_metaclust…_a3m.ffdata`), `ferrofold db download` one folder deeper
/// (`bfd/bfd_metaclust…/bfd_metaclust…_a3m.ffdata`). `Err` names every path looked for.
pub fn hhsuite_prefix(data_dir: &std::path::Path, name: &str) -> Result<PathBuf, String> {
    let manifest = parse_manifest(MANIFEST)?;
    let e = manifest
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| format!("manifest has no {name}"))?;
    let candidates = [
        data_dir.join(&e.name).join(&e.unpacked),
        database_path(data_dir, e).join(&e.unpacked),
    ];
    let a3m = |p: &PathBuf| PathBuf::from(format!("{}_a3m.ffdata", p.display()));
    candidates
        .iter()
        .find(|p| a3m(p).is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "{name}: neither {} (AlphaFold2's layout) nor {} (ferrofold db download's) exists",
                a3m(&candidates[0]).display(),
                a3m(&candidates[1]).display()
            )
        })
}

/// The searches of a database preset. `demo`: the built-in search of the shipped demo database.
/// `reduced_dbs`: jackhmmer on uniref90, MGnify and the reduced BFD below `data_dir` (AlphaFold2's
/// reduced_dbs preset without templates). `full_dbs`: jackhmmer on uniref90 and MGnify, hhblits on BFD and
/// UniRef30 together (`bfd_uniref_hits.a3m`). `colabfold` is not a list of searches but ColabFold's
/// batched protocol ([`crate::pipeline::colabfold::ColabfoldSearch`]).
pub fn preset_searches(
    preset: &str,
    data_dir: Option<&std::path::Path>,
) -> Result<Vec<crate::search::SearchSpec>, String> {
    use crate::search::tools::SearchTool;
    use crate::search::SearchSpec;
    match preset {
        "demo" => Ok(vec![SearchSpec::named_after_database(demo_database(), SearchTool::Builtin)]),
        "reduced_dbs" => {
            let dir = data_dir.ok_or("--db-preset reduced_dbs needs --data-dir (where `ferrofold db download` put the databases)")?;
            let manifest = parse_manifest(MANIFEST)?;
            let mut out = Vec::new();
            for (name, stem) in [("uniref90", "uniref90_hits"), ("mgnify", "mgnify_hits"), ("small_bfd", "small_bfd_hits")] {
                let e = manifest.iter().find(|e| e.name == name).ok_or_else(|| format!("manifest has no {name}"))?;
                let path = database_path(dir, e);
                if !path.is_file() {
                    return Err(format!(
                        "--db-preset reduced_dbs: {} is missing (fetch it with `ferrofold db download {name} --data-dir {}`)",
                        path.display(),
                        dir.display()
                    ));
                }
                out.push(SearchSpec { database: path, tool: SearchTool::Jackhmmer, output_stem: stem.into() });
            }
            Ok(out)
        }
        "full_dbs" => {
            let dir = data_dir.ok_or("--db-preset full_dbs needs --data-dir (where `ferrofold db download` put the databases)")?;
            let manifest = parse_manifest(MANIFEST)?;
            let entry = |name: &str| manifest.iter().find(|e| e.name == name).cloned().ok_or_else(|| format!("manifest has no {name}"));
            let missing = |path: &std::path::Path, name: &str| {
                format!("--db-preset full_dbs: {} is missing (fetch it with `ferrofold db download {name} --data-dir {}`)", path.display(), dir.display())
            };
            let mut out = Vec::new();
            for (name, stem) in [("uniref90", "uniref90_hits"), ("mgnify", "mgnify_hits")] {
                let path = database_path(dir, &entry(name)?);
                if !path.is_file() {
                    return Err(missing(&path, name));
                }
                out.push(SearchSpec { database: path, tool: SearchTool::Jackhmmer, output_stem: stem.into() });
            }
            // HH-suite databases are prefixes inside their folders (AlphaFold2 searches BFD and UniRef30 together).
            let mut prefixes = Vec::new();
            for name in ["bfd", "uniref30"] {
                let prefix = hhsuite_prefix(dir, name).map_err(|why| {
                    format!("--db-preset full_dbs: {why} (fetch it with `ferrofold db download {name} --data-dir {}`, or point --data-dir at AlphaFold2's download folder)", dir.display())
                })?;
                prefixes.push(prefix.display().to_string());
            }
            out.push(SearchSpec { database: prefixes.join(":").into(), tool: SearchTool::Hhblits, output_stem: "bfd_uniref_hits".into() });
            Ok(out)
        }
        "colabfold" => Err("--db-preset colabfold is ColabFold's batched MMseqs2 protocol (pipeline::colabfold::ColabfoldSearch), not a list of searches".into()),
        other => Err(format!("unknown --db-preset '{other}' (demo, reduced_dbs, full_dbs, colabfold)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_name_alphafold2s_alignment_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = preset_searches("reduced_dbs", Some(dir.path())).unwrap_err();
        assert!(
            e.contains("uniref90.fasta") && e.contains("db download uniref90"),
            "{e}"
        );
        for (name, file) in [
            ("uniref90", "uniref90.fasta"),
            ("mgnify", "mgy_clusters_2022_05.fa"),
            ("small_bfd", "bfd-first_non_consensus_sequences.fasta"),
        ] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join(file), ">a\nMK\n").unwrap();
        }
        let s = preset_searches("reduced_dbs", Some(dir.path())).unwrap();
        let stems: Vec<&str> = s.iter().map(|x| x.output_stem.as_str()).collect();
        assert_eq!(stems, ["uniref90_hits", "mgnify_hits", "small_bfd_hits"]);
        assert_eq!(
            preset_searches("demo", None).unwrap()[0].output_stem,
            "uniprot20k_hits"
        );
        assert!(preset_searches("full_dbs", Some(dir.path()))
            .unwrap_err()
            .contains("bfd"));
        assert!(preset_searches("colabfold", Some(dir.path())).is_err());
        assert!(preset_searches("nope", None).is_err());
    }

    #[test]
    fn shipped_manifest_lists_alphafold2s_databases() {
        let m = parse_manifest(MANIFEST).unwrap();
        let names: Vec<&str> = m.iter().map(|e| e.name.as_str()).collect();
        for n in [
            "uniref90",
            "mgnify",
            "bfd",
            "small_bfd",
            "uniref30",
            "pdb70",
            "pdb_seqres",
            "pdb_mmcif",
        ] {
            assert!(names.contains(&n), "{n}");
        }
    }
}
