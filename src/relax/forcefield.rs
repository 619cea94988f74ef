//! The Amber ff99SB force field as OpenMM ships it (`amber99sb.xml`, shipped here in `data/` with its licence):
//! atom types, residue templates and the parameters of the four energy terms, read once from the XML.
//!
//! Units are OpenMM's: nm, radians, kJ/mol, elementary charges. A class written as `""` in a torsion is a
//! wildcard, as in OpenMM's files.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The force-field file, as OpenMM 8.6.1 ships it (`openmm/app/data/amber99sb.xml`).
pub const AMBER99SB_XML: &str = include_str!("data/amber99sb.xml");

#[derive(Debug, thiserror::Error)]
pub enum ForceFieldError {
    #[error("force-field XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("force-field XML, <{element}> near byte {pos}: {what}")]
    Field {
        element: String,
        pos: usize,
        what: String,
    },
}

#[derive(Debug, Clone)]
pub struct AtomType {
    pub name: String,
    pub class: String,
    pub element: String,
    pub mass: f64,
    pub charge: f64,
    pub sigma: f64,
    pub epsilon: f64,
}

#[derive(Debug, Clone)]
pub struct ResidueTemplate {
    pub name: String,
    /// (atom name, index into [`ForceField::types`]), in the file's order.
    pub atoms: Vec<(String, usize)>,
    pub bonds: Vec<(usize, usize)>,
    /// Template atoms that bond to the neighbouring residue (peptide bond, disulfide).
    pub external: Vec<usize>,
}

impl ResidueTemplate {
    pub fn atom_index(&self, name: &str) -> Option<usize> {
        self.atoms.iter().position(|(n, _)| n == name)
    }
}

#[derive(Debug, Clone)]
pub struct BondParam {
    pub classes: [String; 2],
    pub length: f64,
    pub k: f64,
}

#[derive(Debug, Clone)]
pub struct AngleParam {
    pub classes: [String; 3],
    pub angle: f64,
    pub k: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorsionTerm {
    pub periodicity: u32,
    pub phase: f64,
    pub k: f64,
}

#[derive(Debug, Clone)]
pub struct TorsionParam {
    /// `""` matches any class. For impropers the first class is the central atom's.
    pub classes: [String; 4],
    pub terms: Vec<TorsionTerm>,
}

impl TorsionParam {
    pub fn has_wildcard(&self) -> bool {
        self.classes.iter().any(|c| c.is_empty())
    }
}

/// Matches a parameter class against an atom's class; `""` is OpenMM's wildcard.
pub fn class_matches(pattern: &str, class: &str) -> bool {
    pattern.is_empty() || pattern == class
}

#[derive(Debug, Clone)]
pub struct ForceField {
    pub types: Vec<AtomType>,
    pub residues: HashMap<String, ResidueTemplate>,
    pub bonds: Vec<BondParam>,
    pub angles: Vec<AngleParam>,
    pub propers: Vec<TorsionParam>,
    pub impropers: Vec<TorsionParam>,
    pub coulomb14scale: f64,
    pub lj14scale: f64,
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Result<&'a str, ForceFieldError> {
    node.attribute(name).ok_or_else(|| ForceFieldError::Field {
        element: node.tag_name().name().to_string(),
        pos: node.range().start,
        what: format!("attribute `{name}` missing"),
    })
}

fn num<T: std::str::FromStr>(node: roxmltree::Node, name: &str) -> Result<T, ForceFieldError> {
    let text = attr(node, name)?;
    text.parse().map_err(|_| ForceFieldError::Field {
        element: node.tag_name().name().to_string(),
        pos: node.range().start,
        what: format!("attribute `{name}`=\"{text}\" is not a number"),
    })
}

fn classes<const N: usize>(node: roxmltree::Node) -> Result<[String; N], ForceFieldError> {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = attr(node, &format!("class{}", i + 1))?.to_string();
    }
    Ok(out)
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    tag: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(move |c| c.has_tag_name(tag))
}

fn torsion(node: roxmltree::Node) -> Result<TorsionParam, ForceFieldError> {
    let mut terms = Vec::new();
    for i in 1.. {
        if node.attribute(format!("periodicity{i}").as_str()).is_none() {
            break;
        }
        terms.push(TorsionTerm {
            periodicity: num(node, &format!("periodicity{i}"))?,
            phase: num(node, &format!("phase{i}"))?,
            k: num(node, &format!("k{i}"))?,
        });
    }
    Ok(TorsionParam {
        classes: classes::<4>(node)?,
        terms,
    })
}

impl ForceField {
    /// Amber ff99SB (OpenMM's `amber99sb.xml`), parsed on first use.
    pub fn amber99sb() -> &'static ForceField {
        static FF: OnceLock<ForceField> = OnceLock::new();
        FF.get_or_init(|| {
            ForceField::parse(AMBER99SB_XML)
                .expect("the shipped amber99sb.xml parses (a unit test checks it)")
        })
    }

    /// Parses an OpenMM force-field XML file of the amber99sb kind (atom types with per-type charges).
    pub fn parse(xml: &str) -> Result<ForceField, ForceFieldError> {
        let doc = roxmltree::Document::parse(xml)?;
        let root = doc.root_element();
        let mut types = Vec::new();
        let mut type_index = HashMap::new();
        let mut residues = HashMap::new();
        let mut bonds = Vec::new();
        let mut angles = Vec::new();
        let mut propers = Vec::new();
        let mut impropers = Vec::new();
        let (mut coulomb14scale, mut lj14scale) = (None, None);
        let mut nonbonded_seen = Vec::new();
        for section in root.children().filter(|n| n.is_element()) {
            match section.tag_name().name() {
                "AtomTypes" => {
                    for t in children(section, "Type") {
                        let name = attr(t, "name")?.to_string();
                        type_index.insert(name.clone(), types.len());
                        types.push(AtomType {
                            name,
                            class: attr(t, "class")?.to_string(),
                            element: t.attribute("element").unwrap_or("").to_string(),
                            mass: num(t, "mass")?,
                            charge: f64::NAN,
                            sigma: f64::NAN,
                            epsilon: f64::NAN,
                        });
                    }
                }
                "Residues" => {
                    for r in children(section, "Residue") {
                        let mut tpl = ResidueTemplate {
                            name: attr(r, "name")?.to_string(),
                            atoms: Vec::new(),
                            bonds: Vec::new(),
                            external: Vec::new(),
                        };
                        for a in children(r, "Atom") {
                            let ty = attr(a, "type")?;
                            let idx =
                                *type_index.get(ty).ok_or_else(|| ForceFieldError::Field {
                                    element: "Atom".into(),
                                    pos: a.range().start,
                                    what: format!("unknown atom type {ty}"),
                                })?;
                            tpl.atoms.push((attr(a, "name")?.to_string(), idx));
                        }
                        let n = tpl.atoms.len();
                        let index = |node: roxmltree::Node,
                                     name: &str|
                         -> Result<usize, ForceFieldError> {
                            let i: usize = num(node, name)?;
                            if i >= n {
                                return Err(ForceFieldError::Field {
                                    element: node.tag_name().name().to_string(),
                                    pos: node.range().start,
                                    what: format!("atom index {i} outside the residue's {n} atoms"),
                                });
                            }
                            Ok(i)
                        };
                        for b in children(r, "Bond") {
                            tpl.bonds.push((index(b, "from")?, index(b, "to")?));
                        }
                        for b in children(r, "ExternalBond") {
                            tpl.external.push(index(b, "from")?);
                        }
                        residues.insert(tpl.name.clone(), tpl);
                    }
                }
                "HarmonicBondForce" => {
                    for b in children(section, "Bond") {
                        bonds.push(BondParam {
                            classes: classes::<2>(b)?,
                            length: num(b, "length")?,
                            k: num(b, "k")?,
                        });
                    }
                }
                "HarmonicAngleForce" => {
                    for a in children(section, "Angle") {
                        angles.push(AngleParam {
                            classes: classes::<3>(a)?,
                            angle: num(a, "angle")?,
                            k: num(a, "k")?,
                        });
                    }
                }
                "PeriodicTorsionForce" => {
                    if let Some(o) = section.attribute("ordering") {
                        if o != "default" {
                            return Err(ForceFieldError::Field {
                                element: "PeriodicTorsionForce".into(),
                                pos: section.range().start,
                                what: format!("improper ordering `{o}` is not supported (only OpenMM's default)"),
                            });
                        }
                    }
                    for t in children(section, "Proper") {
                        propers.push(torsion(t)?);
                    }
                    for t in children(section, "Improper") {
                        impropers.push(torsion(t)?);
                    }
                }
                "NonbondedForce" => {
                    coulomb14scale = Some(num::<f64>(section, "coulomb14scale")?);
                    lj14scale = Some(num::<f64>(section, "lj14scale")?);
                    for a in children(section, "Atom") {
                        let ty = attr(a, "type")?;
                        let idx = *type_index.get(ty).ok_or_else(|| ForceFieldError::Field {
                            element: "Atom".into(),
                            pos: a.range().start,
                            what: format!("unknown atom type {ty}"),
                        })?;
                        let t = &mut types[idx];
                        t.charge = num(a, "charge")?;
                        t.sigma = num(a, "sigma")?;
                        t.epsilon = num(a, "epsilon")?;
                        nonbonded_seen.push(idx);
                    }
                }
                _ => {}
            }
        }
        let missing = |what: &str| ForceFieldError::Field {
            element: "ForceField".into(),
            pos: 0,
            what: format!("no {what}"),
        };
        Ok(ForceField {
            types,
            residues,
            bonds,
            angles,
            propers,
            impropers,
            coulomb14scale: coulomb14scale.ok_or_else(|| missing("NonbondedForce"))?,
            lj14scale: lj14scale.ok_or_else(|| missing("NonbondedForce"))?,
        })
    }

    pub fn residue(&self, name: &str) -> Option<&ResidueTemplate> {
        self.residues.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_amber99sb_parses_with_its_counts() {
        let ff = ForceField::amber99sb();
        // The counts are the XML's own elements.
        let doc = roxmltree::Document::parse(AMBER99SB_XML).unwrap();
        let count = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
        assert_eq!(ff.types.len(), count("Type"));
        assert_eq!(ff.residues.len(), count("Residue"));
        assert_eq!(ff.propers.len(), count("Proper"));
        assert_eq!(ff.impropers.len(), 38);
        assert_eq!(ff.coulomb14scale, 0.833333);
        assert_eq!(ff.lj14scale, 0.5);
        // Every protein residue type has a charge; ALA's N is type 0: N, -0.4157 e.
        let ala = ff.residue("ALA").unwrap();
        let (name, t) = &ala.atoms[0];
        assert_eq!(name, "N");
        assert_eq!(ff.types[*t].class, "N");
        assert_eq!(ff.types[*t].charge, -0.4157);
        assert_eq!(ala.external, vec![0, 8]);
        for t in &ff.types {
            assert!(
                t.charge.is_finite() && t.sigma.is_finite(),
                "type {} without nonbonded parameters",
                t.name
            );
        }
        // The torsion with four Fourier terms keeps them in order.
        assert_eq!(ff.propers[0].terms.len(), 4);
        assert_eq!(
            ff.propers[0].terms[1],
            TorsionTerm {
                periodicity: 3,
                phase: 0.0,
                k: 1.6736
            }
        );
    }
}
