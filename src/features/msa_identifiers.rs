//! Species identifiers from MSA row descriptions (AlphaFold2's `msa_identifiers.get_identifiers`),
//! the `msa_species_identifiers` feature.
//!
//! The first word of a description, cut at `/`, is read as a UniProtKB sequence identifier
//! `tr|<accession>[_<digit>]|<name>_<SPECIES>[_<digits>]` or the same with `sp|`, where the accession has
//! 6-10 ASCII alphanumerics and the species mnemonic 1-5; anything else has no species (empty string).

/// The species mnemonic of a row description, or `""`.
pub(crate) fn species_id(description: &str) -> &str {
    let Some(word) = description.split_whitespace().next() else {
        return "";
    };
    let id = word.split('/').next().unwrap_or("");
    parse_uniprot(id).unwrap_or("")
}

fn alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_uniprot(id: &str) -> Option<&str> {
    let mut parts = id.split('|');
    let (db, acc, entry) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !(db == "tr" || db == "sp") {
        return None;
    }
    // Accession, optionally followed by an isoform suffix `_<one digit>`.
    let acc_ok = match acc.split_once('_') {
        Some((a, iso)) => {
            (6..=10).contains(&a.len())
                && alnum(a)
                && iso.len() == 1
                && iso.as_bytes()[0].is_ascii_digit()
        }
        None => (6..=10).contains(&acc.len()) && alnum(acc),
    };
    if !acc_ok {
        return None;
    }
    // Entry name `<name>_<species>` with an optional small-BFD suffix `_<digits>`.
    let fields: Vec<&str> = entry.split('_').collect();
    let species = match fields.as_slice() {
        [name, sp] if alnum(name) => *sp,
        [name, sp, n] if alnum(name) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            *sp
        }
        _ => return None,
    };
    ((1..=5).contains(&species.len()) && alnum(species)).then_some(species)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uniprot_species() {
        assert_eq!(species_id("tr|A0A146SKV9|A0A146SKV9_FUNHE"), "FUNHE");
        assert_eq!(species_id("sp|P0C2L1|A3X1_LOXLA some description"), "LOXLA");
        assert_eq!(
            species_id("tr|A0A2A6NXF8|A0A2A6NXF8_9BRAD Uncharacterized protein OS=..."),
            "9BRAD"
        );
        assert_eq!(species_id("tr|Q9XYZ1_1|Q9XYZ1_DROME/3-70"), "DROME");
        assert_eq!(species_id("tr|A0A1B2C3D4|A0A1B2C3D4_HUMAN_12"), "HUMAN");
    }

    #[test]
    fn others_have_none() {
        assert_eq!(species_id("UniRef90_D7BIZ4/1-73"), "");
        assert_eq!(species_id("query"), "");
        assert_eq!(species_id(""), "");
        assert_eq!(
            species_id("tr|SHORT|X_HUMAN"),
            "",
            "accession under 6 characters"
        );
        assert_eq!(species_id("tr|A0A146SKV9|A0A146SKV9_TOOLONG"), "");
        assert_eq!(species_id("xx|A0A146SKV9|A0A146SKV9_FUNHE"), "");
        assert_eq!(species_id("MGYP000123456789"), "");
    }
}
