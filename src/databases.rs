//! Where databases live: the demo database shipped in `databases/demo/`, and the data directory of
//! AlphaFold2's databases (`--data-dir`).

use std::path::PathBuf;

/// File name of the demo database (20,000 UniProt sequences, CC BY 4.0).
pub const DEMO_DATABASE: &str = "uniprot20k.fasta.gz";

/// The `databases/` folder: `$FERROFOLD_DATABASES` if set, else `./databases` if it holds the demo
/// database, else the source tree's (where the binary was built).
pub fn databases_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERROFOLD_DATABASES") {
        return PathBuf::from(d);
    }
    let local = PathBuf::from("databases");
    if local.join("demo").join(DEMO_DATABASE).is_file() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("databases")
}

/// The demo database file.
pub fn demo_database() -> PathBuf {
    databases_dir().join("demo").join(DEMO_DATABASE)
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
pub fn database_path(data_dir: &std::path::Path, e: &ManifestEntry) -> PathBuf {
    data_dir.join(&e.name).join(&e.unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;

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
