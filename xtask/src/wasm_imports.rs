//! Reads the import section of a `.wasm` module, to catch native-only code
//! (C libraries, `extern "C"` shims) that leaked into the wasm32 build: such
//! symbols become imports from module `"env"`, which no browser provides.

use anyhow::{Result, bail, ensure};

/// One import: `(module, name)`, e.g. `("env", "getrandom")`.
pub(crate) type Import = (String, String);

/// All imports of a wasm module in binary format.
pub(crate) fn imports(wasm: &[u8]) -> Result<Vec<Import>> {
    ensure!(
        wasm.len() >= 8 && wasm[..4] == *b"\0asm",
        "not a wasm module"
    );
    ensure!(
        wasm[4..8] == [1, 0, 0, 0],
        "unsupported wasm version {:?}",
        &wasm[4..8]
    );
    let mut reader = Reader {
        bytes: wasm,
        pos: 8,
    };
    while reader.pos < wasm.len() {
        let id = reader.byte()?;
        let size = usize::try_from(reader.leb()?)?;
        let end = reader
            .pos
            .checked_add(size)
            .filter(|&end| end <= wasm.len());
        let Some(end) = end else {
            bail!("section {id} runs past the end of the module")
        };
        if id == IMPORT_SECTION {
            let mut section = Reader {
                bytes: &wasm[..end],
                pos: reader.pos,
            };
            return section.import_entries();
        }
        reader.pos = end;
    }
    Ok(Vec::new())
}

const IMPORT_SECTION: u8 = 2;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn import_entries(&mut self) -> Result<Vec<Import>> {
        let count = self.leb()?;
        let mut imports = Vec::new();
        for _ in 0..count {
            let module = self.name()?;
            let name = self.name()?;
            match self.byte()? {
                0x00 => drop(self.leb()?), // function: type index
                0x01 => {
                    // table: reference type, limits
                    self.byte()?;
                    self.limits()?;
                }
                0x02 => self.limits()?, // memory
                0x03 => {
                    // global: value type, mutability
                    self.byte()?;
                    self.byte()?;
                }
                0x04 => {
                    // tag: attribute, type index
                    self.byte()?;
                    self.leb()?;
                }
                kind => bail!("unknown import kind {kind:#x} for {module}.{name}"),
            }
            imports.push((module, name));
        }
        Ok(imports)
    }

    fn byte(&mut self) -> Result<u8> {
        let Some(&byte) = self.bytes.get(self.pos) else {
            bail!("unexpected end of wasm module")
        };
        self.pos += 1;
        Ok(byte)
    }

    /// Unsigned LEB128.
    fn leb(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("LEB128 number too long")
    }

    fn name(&mut self) -> Result<String> {
        let len = usize::try_from(self.leb()?)?;
        let Some(bytes) = self.bytes.get(self.pos..self.pos.saturating_add(len)) else {
            bail!("name runs past the end of the import section")
        };
        self.pos += len;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn limits(&mut self) -> Result<()> {
        let flags = self.byte()?;
        self.leb()?;
        if flags & 1 != 0 {
            self.leb()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::imports;

    /// Hand-assembled: a type section, then imports `env.foo` (function),
    /// `wbg.__wbindgen_throw` (function) and `env.memory` (memory 17, max 300),
    /// then an empty custom section.
    fn sample() -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([1, 4, 1, 0x60, 0, 0]); // type section: one `() -> ()`
        let mut entries = vec![3];
        for (module, name) in [("env", "foo"), ("wbg", "__wbindgen_throw")] {
            entries.push(module.len() as u8);
            entries.extend(module.bytes());
            entries.push(name.len() as u8);
            entries.extend(name.bytes());
            entries.extend([0x00, 0]);
        }
        entries.extend([
            3, b'e', b'n', b'v', 6, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 1, 17, 0xac, 0x02,
        ]);
        wasm.push(2);
        wasm.push(entries.len() as u8);
        wasm.extend(entries);
        wasm.extend([0, 2, 1, b'x']); // custom section "x"
        wasm
    }

    #[test]
    fn reads_imports() {
        let found = imports(&sample()).unwrap();
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(m, n)| (m.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("env", "foo"),
                ("wbg", "__wbindgen_throw"),
                ("env", "memory")
            ]
        );
    }

    #[test]
    fn no_import_section() {
        assert!(imports(b"\0asm\x01\0\0\0").unwrap().is_empty());
    }

    #[test]
    fn rejects_garbage() {
        assert!(imports(b"\x7fELF\x02\x01\x01\0").is_err());
        let mut truncated = sample();
        truncated.truncate(20);
        assert!(imports(&truncated).is_err());
    }
}
