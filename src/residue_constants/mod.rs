//! Residue and atom constants of AlphaFold2, kept as data.
//!
//! Source: `alphafold/common/residue_constants.py` of DeepMind's AlphaFold2 (v2.3; the values were read off
//! `alphafold-colabfold==2.3.1`, whose file is unchanged from DeepMind's), which in turn follows
//! Jumper et al. (2021), Suppl. Table 1 (atom37 layout) and Suppl. 1.2.1 (the 20 + unknown amino acids).
//! Orders matter: every index below is an index into a tensor of the published parameters.

#[rustfmt::skip]
pub mod rigid_groups;

/// The 20 standard amino acids in AlphaFold2's order (`restypes`); index = `aatype`.
pub const RESTYPES: [char; 20] = [
    'A', 'R', 'N', 'D', 'C', 'Q', 'E', 'G', 'H', 'I', 'L', 'K', 'M', 'F', 'P', 'S', 'T', 'W', 'Y',
    'V',
];

/// Three-letter names in the order of [`RESTYPES`], then `UNK` for index 20 (`X`).
pub const RESTYPE_3: [&str; 21] = [
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU", "LYS", "MET",
    "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "UNK",
];

/// Number of standard residue types (`restype_num`).
pub const RESTYPE_NUM: usize = 20;
/// Index of the unknown residue `X` in `restype_order_with_x`.
pub const UNKNOWN_RESTYPE: usize = 20;
/// Width of the `aatype` one-hot feature: 20 standard + `X`.
pub const RESTYPE_WITH_X: usize = 21;
/// Width of the template one-hot: 20 standard + `X` + gap (`restypes_with_x_and_gap`).
pub const RESTYPE_WITH_X_AND_GAP: usize = 22;

/// The 37 atom names of the atom37 layout (`atom_types`).
pub const ATOM_TYPES: [&str; 37] = [
    "N", "CA", "C", "CB", "O", "CG", "CG1", "CG2", "OG", "OG1", "SG", "CD", "CD1", "CD2", "ND1",
    "ND2", "OD1", "OD2", "SD", "CE", "CE1", "CE2", "CE3", "NE", "NE1", "NE2", "OE1", "OE2", "CH2",
    "NH1", "NH2", "OH", "CZ", "CZ2", "CZ3", "NZ", "OXT",
];
/// `atom_type_num`.
pub const ATOM_TYPE_NUM: usize = 37;

/// atom14 names per residue type in [`RESTYPE_3`] order (`restype_name_to_atom14_names`); "" = no atom.
pub const ATOM14_NAMES: [[&str; 14]; 21] = [
    [
        "N", "CA", "C", "O", "CB", "", "", "", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "OD1", "ND2", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "OD1", "OD2", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "SG", "", "", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "NE2", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "OE2", "", "", "", "", "",
    ],
    ["N", "CA", "C", "O", "", "", "", "", "", "", "", "", "", ""],
    [
        "N", "CA", "C", "O", "CB", "CG", "ND1", "CD2", "CE1", "NE2", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG1", "CG2", "CD1", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD", "CE", "NZ", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "SD", "CE", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD", "", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "OG", "", "", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "OG1", "CG2", "", "", "", "", "", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH", "", "",
    ],
    [
        "N", "CA", "C", "O", "CB", "CG1", "CG2", "", "", "", "", "", "", "",
    ],
    ["", "", "", "", "", "", "", "", "", "", "", "", "", ""],
];

/// HHblits alphabet code of the gap `-` (`HHBLITS_AA_TO_ID['-']`).
pub const HHBLITS_GAP: i32 = 21;
/// HHblits alphabet code of `X` (and of `J`, `O`).
pub const HHBLITS_UNKNOWN: i32 = 20;

/// AlphaFold2's `HHBLITS_AA_TO_ID`: the alphabet of the raw `msa` feature. Accepts the 26 upper-case letters
/// and `-`; `B`→`D`, `Z`→`E`, `U`→`C`, `J`/`O`/`X`→unknown. Anything else (lower case, `.`, `*`) is not part
/// of the alphabet and AlphaFold2 fails on it with a `KeyError`; we return `None`.
pub fn hhblits_id(c: char) -> Option<i32> {
    Some(match c {
        'A' => 0,
        'B' | 'D' => 2,
        'C' | 'U' => 1,
        'E' | 'Z' => 3,
        'F' => 4,
        'G' => 5,
        'H' => 6,
        'I' => 7,
        'J' | 'O' | 'X' => HHBLITS_UNKNOWN,
        'K' => 8,
        'L' => 9,
        'M' => 10,
        'N' => 11,
        'P' => 12,
        'Q' => 13,
        'R' => 14,
        'S' => 15,
        'T' => 16,
        'V' => 17,
        'W' => 18,
        'Y' => 19,
        '-' => HHBLITS_GAP,
        _ => return None,
    })
}

/// AlphaFold2's `MAP_HHBLITS_AATYPE_TO_OUR_AATYPE`: HHblits code → `restype_order_with_x` index (+ gap 21).
pub const MAP_HHBLITS_AATYPE_TO_OUR_AATYPE: [usize; 22] = [
    0, 4, 3, 6, 13, 7, 8, 9, 11, 10, 12, 2, 14, 5, 1, 15, 16, 19, 17, 18, 20, 21,
];

/// Index in `restype_order_with_x` of a residue letter, as `sequence_to_onehot(..., map_unknown_to_x=True)`
/// does: the 20 standard letters map to themselves, any other upper-case ASCII letter to `X` (20), and
/// anything else is rejected (`None`).
pub fn restype_index_with_x(c: char) -> Option<usize> {
    if !c.is_ascii_uppercase() {
        return None;
    }
    Some(
        RESTYPES
            .iter()
            .position(|&r| r == c)
            .unwrap_or(UNKNOWN_RESTYPE),
    )
}

/// Whether `c` is one of the 20 standard residues or `X` (no mapping needed).
pub fn is_standard_or_x(c: char) -> bool {
    c == 'X' || RESTYPES.contains(&c)
}

/// The four atoms defining each χ angle, per residue type in [`RESTYPE_3`] order (AlphaFold2's
/// `chi_angles_atoms`; `UNK` has none; Arg χ5 is left out, as in AlphaFold2). Suppl. Table 2.
#[rustfmt::skip]
pub const CHI_ANGLES_ATOMS: [&[[&str; 4]]; 21] = [
    &[],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD"], ["CB", "CG", "CD", "NE"], ["CG", "CD", "NE", "CZ"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "OD1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "OD1"]],
    &[["N", "CA", "CB", "SG"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD"], ["CB", "CG", "CD", "OE1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD"], ["CB", "CG", "CD", "OE1"]],
    &[],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "ND1"]],
    &[["N", "CA", "CB", "CG1"], ["CA", "CB", "CG1", "CD1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD"], ["CB", "CG", "CD", "CE"], ["CG", "CD", "CE", "NZ"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "SD"], ["CB", "CG", "SD", "CE"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD"]],
    &[["N", "CA", "CB", "OG"]],
    &[["N", "CA", "CB", "OG1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD1"]],
    &[["N", "CA", "CB", "CG"], ["CA", "CB", "CG", "CD1"]],
    &[["N", "CA", "CB", "CG1"]],
    &[],
];

/// χ angles that are π-periodic because of symmetric atom naming (Asp χ2, Glu χ3, Phe χ2, Tyr χ2;
/// AlphaFold2's `chi_pi_periodic`), per residue type in [`RESTYPE_3`] order.
pub fn chi_pi_periodic(restype: usize, chi: usize) -> bool {
    matches!((restype, chi), (3, 1) | (6, 2) | (13, 1) | (18, 1))
}

/// Index of a three-letter residue name in [`RESTYPE_3`] (`UNK` and unknown names → 20).
pub fn restype_3_index(name: &str) -> usize {
    RESTYPE_3[..RESTYPE_NUM]
        .iter()
        .position(|&r| r == name)
        .unwrap_or(UNKNOWN_RESTYPE)
}

/// Index of an atom name in the atom37 layout.
pub fn atom37_index(name: &str) -> Option<usize> {
    ATOM_TYPES.iter().position(|&a| a == name)
}

/// Whether residue type `restype` (0..=20) has atom `atom37` in its heavy-atom set (AlphaFold2's
/// `restype_atom37_mask`, derived from the atom14 names; `OXT` is never included).
pub fn restype_has_atom37(restype: usize, atom37: usize) -> bool {
    let name = ATOM_TYPES[atom37];
    ATOM14_NAMES
        .get(restype)
        .is_some_and(|names| names.iter().any(|&n| !n.is_empty() && n == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hhblits_map_round_trips_through_our_aatype() {
        // Every standard letter's HHblits code maps back to its own restype index.
        for (i, &r) in RESTYPES.iter().enumerate() {
            let h = hhblits_id(r).unwrap() as usize;
            assert_eq!(MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[h], i, "letter {r}");
        }
        assert_eq!(
            MAP_HHBLITS_AATYPE_TO_OUR_AATYPE[hhblits_id('X').unwrap() as usize],
            20
        );
        assert_eq!(hhblits_id('-'), Some(21));
        assert_eq!(hhblits_id('a'), None);
        assert_eq!(hhblits_id('.'), None);
    }

    #[test]
    fn nonstandard_uppercase_maps_to_x_and_lowercase_is_rejected() {
        assert_eq!(restype_index_with_x('A'), Some(0));
        assert_eq!(restype_index_with_x('V'), Some(19));
        for c in ['B', 'J', 'O', 'U', 'Z', 'X'] {
            assert_eq!(restype_index_with_x(c), Some(20), "{c}");
        }
        assert_eq!(restype_index_with_x('a'), None);
        assert_eq!(restype_index_with_x('*'), None);
    }

    #[test]
    fn atom14_names_are_in_atom37() {
        let mut heavy = 0;
        for names in ATOM14_NAMES.iter() {
            for n in names.iter().filter(|n| !n.is_empty()) {
                assert!(atom37_index(n).is_some(), "{n}");
                heavy += 1;
            }
        }
        // 167 heavy atoms over the 20 standard residues (AlphaFold2's atom14 table).
        assert_eq!(heavy, 167);
        assert!(restype_has_atom37(7, atom37_index("CA").unwrap()));
        assert!(
            !restype_has_atom37(7, atom37_index("CB").unwrap()),
            "glycine has no CB"
        );
    }
}
