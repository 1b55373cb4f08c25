//! The questionnaire library: the built-in instruments compiled into the binary, plus whatever a
//! clinic adds. Reading a clinic's directory is I/O and happens in the caller; this takes texts.

use super::definition::{DefinitionError, Instrument, Wording};
use super::file::WordingFile;
use std::collections::BTreeSet;

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../instruments/", $name)))),*]
    };
}

/// (file name, contents) of every built-in instrument, in display order.
const BUILTIN: &[(&str, &str)] = builtin!(
    "phq9.toml",
    "phq2.toml",
    "gad7.toml",
    "gad2.toml",
    "pcl5.toml",
    "hama.toml",
    "asq.toml",
    "ace.toml",
    "cadss6.toml",
    "ebi.toml",
);

/// A file a clinic supplies: an instrument (`NAME.toml`) or licensed wording (`ID.wording.toml`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Library {
    instruments: Vec<Instrument>,
}

impl Library {
    /// The built-in instruments. They are checked like any other file; a test proves they pass.
    pub fn builtin() -> Result<Library, DefinitionError> {
        let instruments = BUILTIN
            .iter()
            .map(|(name, text)| Instrument::from_toml(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Library { instruments })
    }

    /// The built-ins plus a clinic's files. Wording files apply after all instruments are loaded.
    pub fn with_clinic_files(files: &[SourceFile]) -> Result<Library, DefinitionError> {
        let mut lib = Library::builtin()?;
        let (wording, defs): (Vec<_>, Vec<_>) = files
            .iter()
            .partition(|f| f.name.ends_with(".wording.toml"));
        let mut ids: BTreeSet<String> = lib.instruments.iter().map(|i| i.id.clone()).collect();
        for f in defs {
            let inst = Instrument::from_toml(&f.name, &f.text)?;
            if !ids.insert(inst.id.clone()) {
                return Err(DefinitionError {
                    file: f.name.clone(),
                    field: "id".into(),
                    message: format!(
                        "'{}' is already in the library; to supply licensed wording for it use {}.wording.toml",
                        inst.id, inst.id
                    ),
                });
            }
            lib.instruments.push(inst);
        }
        for f in wording {
            lib.apply_wording(f)?;
        }
        Ok(lib)
    }

    fn apply_wording(&mut self, f: &SourceFile) -> Result<(), DefinitionError> {
        let err = |field: &str, message: String| DefinitionError {
            file: f.name.clone(),
            field: field.to_string(),
            message,
        };
        let w: WordingFile = toml::from_str(&f.text)
            .map_err(|e| err("toml", e.to_string().trim().replace('\n', " ")))?;
        let inst = self
            .instruments
            .iter_mut()
            .find(|i| i.id == w.instrument)
            .ok_or_else(|| {
                err(
                    "instrument",
                    format!("no instrument '{}' in the library", w.instrument),
                )
            })?;
        let numbers: Vec<u16> = w.items.iter().map(|i| i.number).collect();
        let expected: Vec<u16> = inst.items.iter().map(|i| i.number).collect();
        if numbers != expected {
            return Err(err(
                "items",
                format!(
                    "must give text for items {:?} in order (all {} items of {}); got {:?}",
                    expected,
                    expected.len(),
                    inst.id,
                    numbers
                ),
            ));
        }
        if let Some((i, _)) = w
            .items
            .iter()
            .enumerate()
            .find(|(_, it)| it.text.trim().is_empty())
        {
            return Err(err(&format!("items[{i}].text"), "must not be empty".into()));
        }
        for (item, text) in inst.items.iter_mut().zip(&w.items) {
            item.text = text.text.clone();
        }
        if let Some(ins) = w.instructions {
            inst.instructions = ins;
        }
        inst.wording = Wording::ClinicSupplied;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.id == id)
    }

    /// The instrument's short name, or its id when the library no longer holds it (a record
    /// outlives the instrument files it was scored with).
    pub fn short_name(&self, id: &str) -> String {
        self.get(id)
            .map_or_else(|| id.to_string(), |i| i.short_name.clone())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter()
    }

    pub fn ids(&self) -> Vec<&str> {
        self.instruments.iter().map(|i| i.id.as_str()).collect()
    }
}
