//! Confidence and run-summary JSON files with AlphaFold2's names and AlphaFold DB's schema:
//! `confidence_<model>.json`, `pae_<model>.json`, `ranking_debug.json`, `timings.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// `confidence_<model>.json` (AlphaFold DB): per-residue pLDDT, 2 decimals, and its band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfidenceJson {
    pub residue_number: Vec<usize>,
    pub confidence_score: Vec<f64>,
    pub confidence_category: Vec<String>,
}

/// One entry of `pae_<model>.json` (a one-element list in AlphaFold DB's schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaeJson {
    pub predicted_aligned_error: Vec<Vec<f64>>,
    pub max_predicted_aligned_error: f64,
}

/// Confidence values that cannot be written as AlphaFold DB's JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfidenceError {
    #[error("pLDDT {0} is outside 0..=100")]
    PlddtRange(f64),
    #[error("PAE has {values} values, expected {n}x{n}")]
    PaeShape { values: usize, n: usize },
}

/// Adds `entries` to the `timings.json` at `path` (AlphaFold2's flat name → seconds map), keeping the
/// keys already there: the features stage and each model write their own.
pub fn merge_timings(path: &Path, entries: &BTreeMap<String, f64>) -> std::io::Result<()> {
    let mut all: BTreeMap<String, f64> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.extend(entries.iter().map(|(k, v)| (k.clone(), *v)));
    write_json_path(&to_json_indent4(&all), path)
}

/// Rounds as Python's `round(x, digits)` does (correctly rounded, ties to even on the exact value).
pub(crate) fn round_to(x: f64, digits: usize) -> f64 {
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// AlphaFold DB's pLDDT band: `D` very low (< 50), `L` low (< 70), `M` confident (< 90), `H` very high.
pub(crate) fn plddt_category(p: f64) -> Result<&'static str, ConfidenceError> {
    match p {
        p if (0.0..50.0).contains(&p) => Ok("D"),
        p if (50.0..70.0).contains(&p) => Ok("L"),
        p if (70.0..90.0).contains(&p) => Ok("M"),
        p if (90.0..=100.0).contains(&p) => Ok("H"),
        p => Err(ConfidenceError::PlddtRange(p)),
    }
}

impl ConfidenceJson {
    /// From per-residue pLDDT (0-100).
    pub(crate) fn from_plddt(plddt: &[f32]) -> Result<Self, ConfidenceError> {
        Ok(Self {
            residue_number: (1..=plddt.len()).collect(),
            confidence_score: plddt.iter().map(|&p| round_to(p as f64, 2)).collect(),
            confidence_category: plddt
                .iter()
                .map(|&p| plddt_category(p as f64).map(str::to_string))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Compact JSON as AlphaFold writes it.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }
}

/// `pae_<model>.json` text from an `[N, N]` PAE matrix (row-major) and its maximum.
pub(crate) fn pae_json(pae: &[f32], n: usize, max_pae: f32) -> Result<String, ConfidenceError> {
    if pae.len() != n * n {
        return Err(ConfidenceError::PaeShape {
            values: pae.len(),
            n,
        });
    }
    let rows = pae
        .chunks(n.max(1))
        .map(|r| r.iter().map(|&v| round_to(v as f64, 2)).collect())
        .collect();
    let v = vec![PaeJson {
        predicted_aligned_error: rows,
        max_predicted_aligned_error: max_pae as f64,
    }];
    Ok(serde_json::to_string(&v).expect("plain data serialises"))
}

/// `ranking_debug.json`: the ranking confidence per model and the models best first. For monomer models
/// AlphaFold2 ranks by mean pLDDT and names the map `plddts`; multimer runs use `iptm+ptm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingDebug {
    #[serde(rename = "plddts", skip_serializing_if = "Option::is_none", default)]
    pub plddts: Option<BTreeMap<String, f64>>,
    #[serde(rename = "iptm+ptm", skip_serializing_if = "Option::is_none", default)]
    pub iptm_ptm: Option<BTreeMap<String, f64>>,
    pub order: Vec<String>,
}

impl RankingDebug {
    /// Monomer ranking: models ordered by confidence, highest first (ties keep the given order).
    pub fn monomer(confidences: &[(String, f64)]) -> Self {
        let mut order: Vec<&(String, f64)> = confidences.iter().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        Self {
            plddts: Some(confidences.iter().cloned().collect()),
            iptm_ptm: None,
            order: order.into_iter().map(|(m, _)| m.clone()).collect(),
        }
    }

    /// Multimer ranking (AlphaFold2: `0.8·ipTM + 0.2·pTM` under `iptm+ptm`), highest first.
    pub fn multimer(confidences: &[(String, f64)]) -> Self {
        let Self { plddts, order, .. } = Self::monomer(confidences);
        Self {
            plddts: None,
            iptm_ptm: plddts,
            order,
        }
    }
}

/// Serialises with 4-space indentation, as AlphaFold2's `json.dumps(..., indent=4)`.
pub(crate) fn to_json_indent4<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value.serialize(&mut ser).expect("plain data serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `timings.json`: seconds per step (`features`, `process_features_<model>`, `predict_and_compile_<model>`, ...).
pub type Timings = BTreeMap<String, f64>;

/// Writes JSON text to `path` atomically.
pub(crate) fn write_json_path(text: &str, path: impl AsRef<Path>) -> std::io::Result<()> {
    crate::fsutil::atomic::write_bytes(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_json_matches_alphafold_db_schema() {
        let c = ConfidenceJson::from_plddt(&[49.994, 50.0, 70.126, 95.5]).unwrap();
        assert_eq!(
            c.to_json(),
            r#"{"residueNumber":[1,2,3,4],"confidenceScore":[49.99,50.0,70.13,95.5],"confidenceCategory":["D","L","M","H"]}"#
        );
        assert!(ConfidenceJson::from_plddt(&[101.0]).is_err());
        assert!(ConfidenceJson::from_plddt(&[f32::NAN]).is_err());
    }

    #[test]
    fn pae_json_is_a_one_element_list() {
        let t = pae_json(&[0.0, 1.234, 2.5, 31.75], 2, 31.75).unwrap();
        assert_eq!(
            t,
            r#"[{"predicted_aligned_error":[[0.0,1.23],[2.5,31.75]],"max_predicted_aligned_error":31.75}]"#
        );
        assert!(pae_json(&[0.0; 3], 2, 1.0).is_err());
    }

    #[test]
    fn ranking_orders_best_first() {
        let r = RankingDebug::monomer(&[("model_1".into(), 80.0), ("model_2".into(), 90.0)]);
        assert_eq!(r.order, vec!["model_2", "model_1"]);
        let t = to_json_indent4(&r);
        assert!(
            t.contains("\n    \"plddts\": {\n        \"model_1\": 80.0"),
            "{t}"
        );
        assert!(!t.contains("iptm"));
    }

    #[test]
    fn rounding_matches_python() {
        // Python: round(2.675, 2) == 2.67 (the double is just below 2.675); round(0.125, 2) == 0.12 (tie → even).
        assert_eq!(round_to(2.675, 2), 2.67);
        assert_eq!(round_to(0.125, 2), 0.12);
        assert_eq!(round_to(0.375, 2), 0.38);
    }
}
