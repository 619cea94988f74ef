//! Python pickles of numpy arrays (read side): AlphaFold2's `features.pkl`, a `dict` of str → ndarray
//! written by `pickle.dump(features, f, protocol=4)` in run_alphafold.py (ColabFold and others write
//! protocol 2 to 5).
//!
//! A pickle is a program for a small stack machine whose "import" instruction can name any Python
//! callable, so loading one in Python can run arbitrary code. This reader interprets the program as
//! data only: the few globals numpy's array, dtype and scalar pickles use are matched against an
//! allow-list and their effect is reimplemented here; any other global is refused before anything is
//! built from it, and nothing is ever called.
//!
//! Supported: protocols 2–5 as CPython writes them (including protocol 5 in-band buffers); numpy 1.x
//! (`numpy.core.*`) and 2.x (`numpy._core.*`) module paths; dtypes bool, int8–64, uint8–64,
//! float32/64, fixed-width `S`/`U` strings and object arrays (whose items are any supported value);
//! either byte order; C and Fortran order (always returned in C order); 0-d arrays and numpy scalars.
//! Not supported (clear error): float16, complex, datetime, structured dtypes, out-of-band buffers,
//! integers wider than 64 bits, sets, and the protocol 0/1 text opcodes.
//!
//! Hostile input gives an error, never a panic, endless loop or an allocation sized by a claimed
//! length: every length is checked against the bytes actually left, objects are capped, what is
//! allocated for results stays within a budget proportional to the input, and nesting is bounded.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use thiserror::Error;

/// Most objects one pickle may create. Each costs at least one input byte, so this only bites on
/// hostile files, where it bounds the arena at a few hundred MB however large the input.
const MAX_OBJECTS: usize = 1 << 24;
/// Deepest nesting returned. numpy dicts nest 3 deep (dict → object array → bytes); the bound keeps
/// the recursive conversion (and the drop of the result) far from the thread's stack limit.
const MAX_DEPTH: usize = 100;
/// Memo references let a small pickle make far more data than it holds: a list holding the previous
/// list twice, sixty times over, or one big buffer decoded into a thousand arrays. Everything the
/// reader allocates for results (decoded arrays, copies, result nodes) is charged to a budget of
/// this many bytes per input byte plus `BUDGET_SLACK`; real pickles use about 1–2 per byte.
const BUDGET_PER_INPUT_BYTE: usize = 16;
const BUDGET_SLACK: usize = 64 << 20;
/// Global names shown in errors are cut to this many characters: they come from the file.
const MAX_NAME_IN_ERROR: usize = 100;

/// A value from the pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Python `bytes`, `bytearray`, or a Python 2 `str` (protocol 2 `BINSTRING`, kept as bytes).
    Bytes(Vec<u8>),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    /// Pairs in the order the pickle set them (a pickled Python dict has no duplicate keys).
    Dict(Vec<(PyValue, PyValue)>),
    /// A numpy array or numpy scalar (a scalar is a 0-d array).
    Array(NdArray),
}

impl PyValue {
    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "None",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::Bytes(_) => "bytes",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Dict(_) => "dict",
            PyValue::Array(_) => "numpy.ndarray",
        }
    }
}

/// A numpy array in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Empty for 0-d arrays and numpy scalars.
    pub shape: Vec<usize>,
    pub data: ArrayData,
}

impl NdArray {
    /// Number of elements (1 for a 0-d array).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// The numpy dtype name (`int32`, `object`, ...), for messages.
    pub fn dtype_name(&self) -> &'static str {
        self.data.dtype_name()
    }

    /// The items as byte strings, for both `S` arrays and object arrays of Python `bytes` (how
    /// AlphaFold2 stores `sequence`, `domain_name`, `msa_species_identifiers`, `template_sequence`).
    /// None for any other dtype or if an object item is not `bytes`.
    pub fn byte_strings(&self) -> Option<Vec<&[u8]>> {
        match &self.data {
            ArrayData::Bytes(v) => Some(v.iter().map(Vec::as_slice).collect()),
            ArrayData::Object(v) => v
                .iter()
                .map(|item| match item {
                    PyValue::Bytes(b) => Some(b.as_slice()),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// The elements of an array, by dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// numpy `S<n>`: fixed-width byte strings, trailing NULs removed (as numpy returns items).
    Bytes(Vec<Vec<u8>>),
    /// numpy `U<n>`: fixed-width UTF-32, trailing NULs removed.
    Str(Vec<String>),
    /// numpy `object`: any pickled values.
    Object(Vec<PyValue>),
}

impl ArrayData {
    pub fn len(&self) -> usize {
        match self {
            ArrayData::Bool(v) => v.len(),
            ArrayData::I8(v) => v.len(),
            ArrayData::U8(v) => v.len(),
            ArrayData::I16(v) => v.len(),
            ArrayData::U16(v) => v.len(),
            ArrayData::I32(v) => v.len(),
            ArrayData::U32(v) => v.len(),
            ArrayData::I64(v) => v.len(),
            ArrayData::U64(v) => v.len(),
            ArrayData::F32(v) => v.len(),
            ArrayData::F64(v) => v.len(),
            ArrayData::Bytes(v) => v.len(),
            ArrayData::Str(v) => v.len(),
            ArrayData::Object(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype_name(&self) -> &'static str {
        match self {
            ArrayData::Bool(_) => "bool",
            ArrayData::I8(_) => "int8",
            ArrayData::U8(_) => "uint8",
            ArrayData::I16(_) => "int16",
            ArrayData::U16(_) => "uint16",
            ArrayData::I32(_) => "int32",
            ArrayData::U32(_) => "uint32",
            ArrayData::I64(_) => "int64",
            ArrayData::U64(_) => "uint64",
            ArrayData::F32(_) => "float32",
            ArrayData::F64(_) => "float64",
            ArrayData::Bytes(_) => "bytes (S)",
            ArrayData::Str(_) => "str (U)",
            ArrayData::Object(_) => "object",
        }
    }
}

/// Why a pickle could not be read. Offsets are byte positions in the pickle, normally of the opcode
/// being executed.
#[derive(Debug, Error)]
pub enum PickleError {
    #[error("pickle truncated: the opcode at byte {offset} needs {needed} more byte(s), {available} left")]
    Truncated {
        offset: usize,
        needed: u64,
        available: usize,
    },
    #[error("unknown pickle opcode 0x{opcode:02x} at byte {offset}")]
    UnknownOpcode { opcode: u8, offset: usize },
    #[error(
        "pickle opcode {name} (0x{opcode:02x}) at byte {offset} is not supported: numpy array pickles do not use it"
    )]
    UnsupportedOpcode {
        opcode: u8,
        name: &'static str,
        offset: usize,
    },
    #[error(
        "out-of-band buffers not supported (opcode {name} at byte {offset}): the pickle was written with a buffer_callback and its data is not in the file"
    )]
    OutOfBandBuffer { name: &'static str, offset: usize },
    /// `module` and `name` are escaped and shortened for display; they come from the file.
    #[error(
        "refusing to load global '{module}.{name}' (at byte {offset}): features.pkl files contain only numpy arrays"
    )]
    ForbiddenGlobal {
        module: String,
        name: String,
        offset: usize,
    },
    #[error("malformed pickle at byte {offset}: {message}")]
    Malformed { offset: usize, message: String },
    /// Valid pickle content that this reader deliberately does not handle (a dtype, a huge int...).
    #[error("unsupported pickle content at byte {offset}: {message}")]
    Unsupported { offset: usize, message: String },
    #[error("pickle exceeds a safety limit at byte {offset}: {message}")]
    LimitExceeded { offset: usize, message: String },
    #[error("expected a dict of arrays at the top of the pickle, found {found}")]
    NotADict { found: &'static str },
    #[error("key {key:?}: expected a numpy array, found {found}")]
    NotAnArray { key: String, found: &'static str },
    #[error("dict key is {found}, expected str")]
    NonStringKey { found: &'static str },
    #[error("key {key:?} appears twice")]
    DuplicateKey { key: String },
}

/// Reads one pickle. Bytes after its STOP opcode are ignored, as Python's `pickle.loads` does.
pub fn load(bytes: &[u8]) -> Result<PyValue, PickleError> {
    let mut machine = Machine::new(bytes);
    let root = machine.run()?;
    machine.export_root(root)
}

/// Reads a top-level dict of str → numpy arrays (AlphaFold2's features.pkl), in pickle order.
/// Python ints, floats and bools and numpy scalars become 0-d arrays (int64, float64, bool, and the
/// scalar's dtype); any other value is an error naming its key.
pub fn load_array_dict(bytes: &[u8]) -> Result<Vec<(String, NdArray)>, PickleError> {
    let pairs = match load(bytes)? {
        PyValue::Dict(pairs) => pairs,
        other => {
            return Err(PickleError::NotADict {
                found: other.type_name(),
            })
        }
    };
    let mut seen = HashSet::with_capacity(pairs.len());
    let mut out = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let key = match key {
            PyValue::Str(s) => s,
            // Python 2 pickles write str keys as BINSTRING, which this reader keeps as bytes.
            PyValue::Bytes(b) => String::from_utf8(b).map_err(|_| PickleError::NonStringKey {
                found: "bytes (not UTF-8)",
            })?,
            other => {
                return Err(PickleError::NonStringKey {
                    found: other.type_name(),
                })
            }
        };
        let zero_d = |data| NdArray {
            shape: Vec::new(),
            data,
        };
        let array = match value {
            PyValue::Array(a) => a,
            PyValue::Int(i) => zero_d(ArrayData::I64(vec![i])),
            PyValue::Float(f) => zero_d(ArrayData::F64(vec![f])),
            PyValue::Bool(b) => zero_d(ArrayData::Bool(vec![b])),
            other => {
                return Err(PickleError::NotAnArray {
                    key,
                    found: other.type_name(),
                })
            }
        };
        if !seen.insert(key.clone()) {
            return Err(PickleError::DuplicateKey { key });
        }
        out.push((key, array));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------
// The machine. Objects live in an arena and the stack and memo hold indices into it, because pickles
// share objects by reference and mutate them after memoizing them (a dtype is memoized, then BUILD
// sets its byte order; a later array fetches it from the memo and must see the byte order).

type Id = usize;

/// The allowed globals. They are tags: what each one means is implemented in `Machine::reduce`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Global {
    /// `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`: an empty array that BUILD fills.
    Reconstruct,
    /// `numpy.ndarray`: only valid as `_reconstruct`'s first argument.
    NdArrayClass,
    /// `numpy.dtype('f4', False, True)`, then BUILD with the byte order and item size.
    DtypeClass,
    /// `numpy.core.multiarray.scalar(dtype, raw bytes or object)`: a numpy scalar.
    Scalar,
    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`: protocol 5 arrays.
    FromBuffer,
    /// `_codecs.encode(str, 'latin1')`: how protocol 2 spells a `bytes` object.
    CodecsEncode,
    /// `builtins.bytes()` (`__builtin__` in protocol 2): how protocol 2 spells `b''`.
    BytesClass,
}

impl Global {
    fn name(self) -> &'static str {
        match self {
            Global::Reconstruct => "numpy.core.multiarray._reconstruct",
            Global::NdArrayClass => "numpy.ndarray",
            Global::DtypeClass => "numpy.dtype",
            Global::Scalar => "numpy.core.multiarray.scalar",
            Global::FromBuffer => "numpy.core.numeric._frombuffer",
            Global::CodecsEncode => "_codecs.encode",
            Global::BytesClass => "builtins.bytes",
        }
    }
}

/// The allow-list: exactly the globals CPython's pickler writes for numpy 1.26 and 2.x arrays,
/// dtypes and scalars under protocols 2–5 (checked with `pickletools` on real pickles).
fn allowed_global(module: &str, name: &str) -> Option<Global> {
    let numpy_core = |m: &str, sub: &str| {
        m.strip_prefix("numpy.core.")
            .or_else(|| m.strip_prefix("numpy._core."))
            == Some(sub)
    };
    match name {
        "_reconstruct" if numpy_core(module, "multiarray") => Some(Global::Reconstruct),
        "scalar" if numpy_core(module, "multiarray") => Some(Global::Scalar),
        "_frombuffer" if numpy_core(module, "numeric") => Some(Global::FromBuffer),
        "ndarray" if module == "numpy" => Some(Global::NdArrayClass),
        "dtype" if module == "numpy" => Some(Global::DtypeClass),
        "encode" if module == "_codecs" => Some(Global::CodecsEncode),
        "bytes" if module == "builtins" || module == "__builtin__" => Some(Global::BytesClass),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    Bytes,
    Str,
    Object,
}

/// A numpy dtype reduced to what decoding needs.
#[derive(Debug, Clone, Copy)]
struct Dtype {
    kind: Kind,
    /// Bytes per element (for `U<n>`, 4n).
    size: usize,
    big_endian: bool,
}

/// Bytes either still in the input (most array data: no copy) or made by the machine.
#[derive(Debug, Clone)]
enum Buf {
    Input(Range<usize>),
    Owned(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Stored {
    Plain(ArrayData),
    /// Object arrays keep their items in the arena until export.
    Objects(Vec<Id>),
}

#[derive(Debug, Clone)]
struct Array {
    shape: Vec<usize>,
    data: Stored,
}

#[derive(Debug, Clone)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Buf),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Global),
    Dtype(Dtype),
    /// The result of `_reconstruct`, waiting for BUILD.
    EmptyArray,
    Array(Array),
    /// Payload moved into the result by export; never reached again (see `export`).
    Taken,
}

impl Obj {
    fn describe(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "bool",
            Obj::Int(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "list",
            Obj::Tuple(_) => "tuple",
            Obj::Dict(_) => "dict",
            Obj::Global(_) => "a global",
            Obj::Dtype(_) => "numpy.dtype",
            Obj::EmptyArray => "ndarray without state",
            Obj::Array(_) => "numpy.ndarray",
            Obj::Taken => "consumed object",
        }
    }
}

struct Node {
    obj: Obj,
    /// Where the object was created, for errors found later.
    offset: usize,
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed: errors point at it.
    op_offset: usize,
    arena: Vec<Node>,
    stack: Vec<Id>,
    /// Stack heights at each MARK. Nothing may pop below the innermost one, as in Python, where the
    /// items above a mark are a separate list.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    /// Bytes still allowed for results (see `BUDGET_PER_INPUT_BYTE`). A Cell so that the decoding
    /// helpers, which only read the arena, can charge it.
    budget: Cell<usize>,
}

/// Opcode bytes (names as in Python's `pickletools`).
mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const REDUCE: u8 = b'R';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// Names of the pickle opcodes this reader refuses, so the error can say which one it met.
fn unsupported_opcode_name(byte: u8) -> Option<&'static str> {
    Some(match byte {
        b'F' => "FLOAT",
        b'I' => "INT",
        b'L' => "LONG",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'g' => "GET",
        b'i' => "INST",
        b'o' => "OBJ",
        b'p' => "PUT",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        _ => return None,
    })
}

/// Escapes and shortens a name taken from the file before it goes into an error message.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_NAME_IN_ERROR)
        .flat_map(char::escape_debug)
        .collect();
    if s.chars().nth(MAX_NAME_IN_ERROR).is_some() {
        out.push_str("...");
    }
    out
}

impl<'a> Machine<'a> {
    fn new(input: &'a [u8]) -> Self {
        Machine {
            input,
            pos: 0,
            op_offset: 0,
            arena: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget: Cell::new(
                input
                    .len()
                    .saturating_mul(BUDGET_PER_INPUT_BYTE)
                    .saturating_add(BUDGET_SLACK),
            ),
        }
    }

    // --- errors -------------------------------------------------------------------------------

    fn malformed(&self, message: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_offset,
            message: message.into(),
        }
    }

    fn unsupported(&self, message: impl Into<String>) -> PickleError {
        PickleError::Unsupported {
            offset: self.op_offset,
            message: message.into(),
        }
    }

    /// Takes `bytes` from the budget before they are allocated; `offset` is reported if it runs out.
    fn charge_at(&self, offset: usize, bytes: usize) -> Result<(), PickleError> {
        match self.budget.get().checked_sub(bytes) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(PickleError::LimitExceeded {
                offset,
                message: "the pickle expands to far more data than the file holds \
                          (shared references re-used many times)"
                    .into(),
            }),
        }
    }

    fn charge(&self, bytes: usize) -> Result<(), PickleError> {
        self.charge_at(self.op_offset, bytes)
    }

    // --- reading the input ---------------------------------------------------------------------

    /// The next `n` bytes, or Truncated. `n` is a claimed length straight from the file, so it is
    /// compared with what is left before anything is sliced or allocated.
    fn take(&mut self, n: u64) -> Result<Range<usize>, PickleError> {
        let available = self.input.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= available => {
                let range = self.pos..self.pos + n;
                self.pos += n;
                Ok(range)
            }
            _ => Err(PickleError::Truncated {
                offset: self.op_offset,
                needed: n,
                available,
            }),
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let range = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.input[range]);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }

    /// A `\n`-terminated line (GLOBAL's module and name).
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.input[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            return Err(PickleError::Truncated {
                offset: self.op_offset,
                needed: rest.len() as u64 + 1,
                available: rest.len(),
            });
        };
        let range = self.take(len as u64 + 1)?;
        let text = &self.input[range.start..range.end - 1];
        String::from_utf8(text.to_vec()).map_err(|_| self.malformed("GLOBAL name is not UTF-8"))
    }

    fn string(&mut self, len: u64) -> Result<String, PickleError> {
        let range = self.take(len)?;
        String::from_utf8(self.input[range].to_vec())
            .map_err(|_| self.malformed("string is not valid UTF-8"))
    }

    fn bytes_of<'s>(&'s self, buf: &'s Buf) -> &'s [u8] {
        match buf {
            // In range: `take` checked it when the Buf was made.
            Buf::Input(range) => &self.input[range.clone()],
            Buf::Owned(v) => v,
        }
    }

    // --- stack, memo, arena --------------------------------------------------------------------

    fn alloc(&mut self, obj: Obj) -> Result<Id, PickleError> {
        if self.arena.len() >= MAX_OBJECTS {
            return Err(PickleError::LimitExceeded {
                offset: self.op_offset,
                message: format!("more than {MAX_OBJECTS} objects"),
            });
        }
        self.arena.push(Node {
            obj,
            offset: self.op_offset,
        });
        Ok(self.arena.len() - 1)
    }

    fn push_new(&mut self, obj: Obj) -> Result<(), PickleError> {
        let id = self.alloc(obj)?;
        self.stack.push(id);
        Ok(())
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    /// Removes the innermost MARK and returns the items pushed since.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let id = self.top()?;
        if self.memo.len() >= MAX_OBJECTS && !self.memo.contains_key(&key) {
            return Err(PickleError::LimitExceeded {
                offset: self.op_offset,
                message: format!("more than {MAX_OBJECTS} memo entries"),
            });
        }
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.malformed(format!("memo entry {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    // --- typed access to arena objects ---------------------------------------------------------

    fn obj(&self, id: Id) -> &Obj {
        &self.arena[id].obj
    }

    fn tuple(&self, id: Id, what: &str) -> Result<&[Id], PickleError> {
        match self.obj(id) {
            Obj::Tuple(items) => Ok(items),
            other => Err(self.malformed(format!(
                "{what}: expected a tuple, found {}",
                other.describe()
            ))),
        }
    }

    fn int(&self, id: Id, what: &str) -> Result<i64, PickleError> {
        match self.obj(id) {
            Obj::Int(i) => Ok(*i),
            Obj::Bool(b) => Ok(i64::from(*b)),
            other => Err(self.malformed(format!(
                "{what}: expected an int, found {}",
                other.describe()
            ))),
        }
    }

    fn text(&self, id: Id, what: &str) -> Result<&str, PickleError> {
        match self.obj(id) {
            Obj::Str(s) => Ok(s),
            // Python 2 str (BINSTRING), e.g. a dtype code in an old pickle.
            Obj::Bytes(buf) => std::str::from_utf8(self.bytes_of(buf))
                .map_err(|_| self.malformed(format!("{what}: not UTF-8"))),
            other => Err(self.malformed(format!(
                "{what}: expected a str, found {}",
                other.describe()
            ))),
        }
    }

    fn raw_bytes(&self, id: Id, what: &str) -> Result<&[u8], PickleError> {
        match self.obj(id) {
            Obj::Bytes(buf) => Ok(self.bytes_of(buf)),
            other => Err(self.malformed(format!(
                "{what}: expected bytes, found {}",
                other.describe()
            ))),
        }
    }

    fn dtype(&self, id: Id, what: &str) -> Result<Dtype, PickleError> {
        match self.obj(id) {
            Obj::Dtype(d) => Ok(*d),
            other => Err(self.malformed(format!(
                "{what}: expected a numpy.dtype, found {}",
                other.describe()
            ))),
        }
    }

    fn shape(&self, id: Id) -> Result<Vec<usize>, PickleError> {
        let dims = match self.obj(id) {
            Obj::Tuple(items) | Obj::List(items) => items,
            other => {
                return Err(self.malformed(format!(
                    "array shape: expected a tuple, found {}",
                    other.describe()
                )))
            }
        };
        self.charge(8 * dims.len())?;
        dims.iter()
            .map(|&d| {
                let d = self.int(d, "array shape")?;
                usize::try_from(d)
                    .map_err(|_| self.malformed(format!("negative or huge dimension {d}")))
            })
            .collect()
    }

    // --- the interpreter -----------------------------------------------------------------------

    /// Runs to STOP and returns the result's id. Every opcode consumes at least one byte, so this ends.
    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            self.op_offset = self.pos;
            // Each opcode pushes at most one stack entry or MARK; BINGET and MARK push without
            // making an object, so they are capped here rather than in `alloc`.
            if self.stack.len() + self.marks.len() >= MAX_OBJECTS {
                return Err(PickleError::LimitExceeded {
                    offset: self.op_offset,
                    message: format!("more than {MAX_OBJECTS} stack entries"),
                });
            }
            let opcode = self.u8()?;
            match opcode {
                op::PROTO => {
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(self.unsupported(format!("pickle protocol {version}")));
                    }
                }
                // Frames only group opcodes for buffered reading; the content is the same with or
                // without them, but a frame claiming more than is left marks a cut file.
                op::FRAME => {
                    let len = self.u64()?;
                    let available = self.input.len() - self.pos;
                    if usize::try_from(len).map_or(true, |len| len > available) {
                        return Err(PickleError::Truncated {
                            offset: self.op_offset,
                            needed: len,
                            available,
                        });
                    }
                }
                op::STOP => {
                    if !self.marks.is_empty() || self.stack.len() != 1 {
                        return Err(self.malformed(format!(
                            "STOP with {} stack item(s) and {} open MARK(s); expected exactly one item",
                            self.stack.len(),
                            self.marks.len()
                        )));
                    }
                    return self.pop();
                }
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    // Python's POP drops the MARK itself when nothing was pushed after it.
                    if !self.marks.is_empty() && self.stack.len() == self.floor() {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let id = self.top()?;
                    self.stack.push(id);
                }

                op::NONE => self.push_new(Obj::None)?,
                op::NEWTRUE => self.push_new(Obj::Bool(true))?,
                op::NEWFALSE => self.push_new(Obj::Bool(false))?,
                op::BININT => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.push_new(Obj::Int(i64::from(v)))?;
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.push_new(Obj::Int(i64::from(v)))?;
                }
                op::BININT2 => {
                    let v = u16::from_le_bytes(self.take_array()?);
                    self.push_new(Obj::Int(i64::from(v)))?;
                }
                op::LONG1 | op::LONG4 => {
                    let len = if opcode == op::LONG1 {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let range = self.take(len)?;
                    let v = self.little_endian_int(&self.input[range])?;
                    self.push_new(Obj::Int(v))?;
                }
                op::BINFLOAT => {
                    // The one big-endian number in the format.
                    let v = f64::from_be_bytes(self.take_array()?);
                    self.push_new(Obj::Float(v))?;
                }

                op::SHORT_BINUNICODE => {
                    let len = self.u8()?;
                    let s = self.string(u64::from(len))?;
                    self.push_new(Obj::Str(s))?;
                }
                op::BINUNICODE => {
                    let len = self.u32()?;
                    let s = self.string(u64::from(len))?;
                    self.push_new(Obj::Str(s))?;
                }
                op::BINUNICODE8 => {
                    let len = self.u64()?;
                    let s = self.string(len)?;
                    self.push_new(Obj::Str(s))?;
                }
                op::SHORT_BINBYTES | op::SHORT_BINSTRING => {
                    let len = self.u8()?;
                    let range = self.take(u64::from(len))?;
                    self.push_new(Obj::Bytes(Buf::Input(range)))?;
                }
                op::BINBYTES => {
                    let len = self.u32()?;
                    let range = self.take(u64::from(len))?;
                    self.push_new(Obj::Bytes(Buf::Input(range)))?;
                }
                op::BINSTRING => {
                    let len = i32::from_le_bytes(self.take_array()?);
                    let len = u64::try_from(len).map_err(|_| {
                        self.malformed(format!("BINSTRING with negative length {len}"))
                    })?;
                    let range = self.take(len)?;
                    self.push_new(Obj::Bytes(Buf::Input(range)))?;
                }
                // In-band protocol 5 buffers (a writable array's PickleBuffer) and bytes are the
                // same thing to a reader that never mutates them.
                op::BINBYTES8 | op::BYTEARRAY8 => {
                    let len = self.u64()?;
                    let range = self.take(len)?;
                    self.push_new(Obj::Bytes(Buf::Input(range)))?;
                }
                op::NEXT_BUFFER => {
                    return Err(PickleError::OutOfBandBuffer {
                        name: "NEXT_BUFFER",
                        offset: self.op_offset,
                    })
                }
                op::READONLY_BUFFER => {
                    return Err(PickleError::OutOfBandBuffer {
                        name: "READONLY_BUFFER",
                        offset: self.op_offset,
                    })
                }

                op::EMPTY_LIST => self.push_new(Obj::List(Vec::new()))?,
                op::EMPTY_TUPLE => self.push_new(Obj::Tuple(Vec::new()))?,
                op::EMPTY_DICT => self.push_new(Obj::Dict(Vec::new()))?,
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.push_new(Obj::List(items))?;
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.push_new(Obj::Tuple(items))?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(opcode - op::TUPLE1) + 1;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_new(Obj::Tuple(items))?;
                }
                op::DICT => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_new(Obj::Dict(pairs))?;
                }
                op::APPEND => {
                    let item = self.pop()?;
                    self.extend_list(vec![item])?;
                }
                op::APPENDS => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                op::SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_dict(vec![(key, value)])?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.extend_dict(pairs)?;
                }

                op::BINPUT => {
                    let key = self.u8()?;
                    self.memo_put(u32::from(key))?;
                }
                op::LONG_BINPUT => {
                    let key = self.u32()?;
                    self.memo_put(key)?;
                }
                op::MEMOIZE => {
                    // Python uses len(memo) as the key; the cap in memo_put keeps it in u32.
                    let key =
                        u32::try_from(self.memo.len()).map_err(|_| self.malformed("memo full"))?;
                    self.memo_put(key)?;
                }
                op::BINGET => {
                    let key = self.u8()?;
                    self.memo_get(u32::from(key))?;
                }
                op::LONG_BINGET => {
                    let key = self.u32()?;
                    self.memo_get(key)?;
                }

                op::GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push_global(&module, &name)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let name = self.text(name, "STACK_GLOBAL name")?.to_owned();
                    let module = self.text(module, "STACK_GLOBAL module")?.to_owned();
                    self.push_global(&module, &name)?;
                }
                op::REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = self.reduce(callable, args)?;
                    self.push_new(result)?;
                }
                op::BUILD => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                }

                other => {
                    return Err(match unsupported_opcode_name(other) {
                        Some(name) => PickleError::UnsupportedOpcode {
                            opcode: other,
                            name,
                            offset: self.op_offset,
                        },
                        None => PickleError::UnknownOpcode {
                            opcode: other,
                            offset: self.op_offset,
                        },
                    })
                }
            }
        }
    }

    /// LONG1/LONG4 payload: little-endian two's complement of any length; only what fits i64.
    fn little_endian_int(&self, bytes: &[u8]) -> Result<i64, PickleError> {
        if bytes.len() > 8 {
            return Err(self.unsupported(format!(
                "integer of {} bytes (more than 64 bits)",
                bytes.len()
            )));
        }
        let Some(&last) = bytes.last() else {
            return Ok(0);
        };
        // Sign-extend from the top byte, then overwrite the low bytes with the payload.
        let mut full = if last & 0x80 != 0 {
            [0xffu8; 8]
        } else {
            [0u8; 8]
        };
        full[..bytes.len()].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(full))
    }

    fn pairs(&self, items: Vec<Id>) -> Result<Vec<(Id, Id)>, PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of items for a dict"));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target].obj {
            Obj::List(list) => {
                list.extend(items);
                Ok(())
            }
            other => {
                let found = other.describe();
                Err(self.malformed(format!("APPEND(S) to {found}, expected a list")))
            }
        }
    }

    fn extend_dict(&mut self, pairs: Vec<(Id, Id)>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target].obj {
            Obj::Dict(dict) => {
                dict.extend(pairs);
                Ok(())
            }
            other => {
                let found = other.describe();
                Err(self.malformed(format!("SETITEM(S) on {found}, expected a dict")))
            }
        }
    }

    /// Pushes an allowed global's tag; anything else stops the load here, before any object is made
    /// from it.
    fn push_global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        match allowed_global(module, name) {
            Some(global) => self.push_new(Obj::Global(global)),
            None => Err(PickleError::ForbiddenGlobal {
                module: printable(module),
                name: printable(name),
                offset: self.op_offset,
            }),
        }
    }

    /// REDUCE: what calling each allowed global with `args` would return, computed here.
    fn reduce(&self, callable: Id, args: Id) -> Result<Obj, PickleError> {
        let global = match self.obj(callable) {
            Obj::Global(g) => *g,
            other => {
                return Err(
                    self.malformed(format!("REDUCE on {}, expected a global", other.describe()))
                )
            }
        };
        let what = global.name();
        let args = self.tuple(args, what)?;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.malformed(format!(
                    "{what} with {} argument(s), expected {n}",
                    args.len()
                )))
            }
        };
        match global {
            Global::Reconstruct => {
                arity(3)?;
                // The shape and dtype code are placeholders; BUILD supplies the real ones.
                match self.obj(args[0]) {
                    Obj::Global(Global::NdArrayClass) => Ok(Obj::EmptyArray),
                    other => Err(self.malformed(format!(
                        "{what} of {}, expected numpy.ndarray",
                        other.describe()
                    ))),
                }
            }
            Global::DtypeClass => {
                // numpy.dtype(code, align, copy): only the code matters.
                if args.is_empty() || args.len() > 3 {
                    return Err(self.malformed(format!("{what} with {} argument(s)", args.len())));
                }
                let code = self.text(args[0], "dtype code")?;
                Ok(Obj::Dtype(self.parse_dtype_code(code)?))
            }
            Global::Scalar => {
                arity(2)?;
                let dtype = self.dtype(args[0], "numpy scalar")?;
                let data = if dtype.kind == Kind::Object {
                    Stored::Objects(vec![args[1]])
                } else {
                    let raw = self.raw_bytes(args[1], "numpy scalar data")?;
                    Stored::Plain(self.decode(dtype, raw, 1)?)
                };
                Ok(Obj::Array(Array {
                    shape: Vec::new(),
                    data,
                }))
            }
            Global::FromBuffer => {
                arity(4)?;
                let raw = self.raw_bytes(args[0], "_frombuffer buffer")?;
                let dtype = self.dtype(args[1], "_frombuffer dtype")?;
                if dtype.kind == Kind::Object {
                    return Err(self.malformed("_frombuffer with an object dtype"));
                }
                let shape = self.shape(args[2])?;
                let fortran = match self.text(args[3], "_frombuffer order")? {
                    "C" => false,
                    "F" => true,
                    other => return Err(self.malformed(format!("_frombuffer order {other:?}"))),
                };
                Ok(Obj::Array(self.plain_array(dtype, shape, fortran, raw)?))
            }
            Global::CodecsEncode => {
                arity(2)?;
                let encoding = self.text(args[1], "_codecs.encode encoding")?;
                if encoding != "latin1" && encoding != "latin-1" {
                    return Err(
                        self.unsupported(format!("_codecs.encode with encoding {encoding:?}"))
                    );
                }
                // Protocol 2 has no bytes opcode: it writes bytes as the str with the same code
                // points (U+0000..U+00FF) and re-encodes it as latin-1.
                let text = self.text(args[0], "_codecs.encode text")?;
                self.charge(text.len())?;
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| self.malformed("_codecs.encode: character outside latin-1"))?;
                Ok(Obj::Bytes(Buf::Owned(bytes)))
            }
            Global::BytesClass => {
                // Protocol 2 writes b'' as bytes(); any other call is not something numpy writes.
                arity(0)?;
                Ok(Obj::Bytes(Buf::Owned(Vec::new())))
            }
            Global::NdArrayClass => Err(self.malformed("numpy.ndarray called directly")),
        }
    }

    /// `'f4'`, `'i8'`, `'b1'`, `'O8'`, `'S5'`, `'U3'`: numpy's dtype code, kind letter + size (for
    /// `U`, in characters). The byte order comes later, from BUILD.
    fn parse_dtype_code(&self, code: &str) -> Result<Dtype, PickleError> {
        let bad = || self.unsupported(format!("numpy dtype '{}'", printable(code)));
        let mut chars = code.chars();
        let letter = chars.next().ok_or_else(bad)?;
        let digits = chars.as_str();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: usize = digits.parse().map_err(|_| bad())?;
        let (kind, size) = match (letter, n) {
            ('b', 1) => (Kind::Bool, 1),
            ('i', 1 | 2 | 4 | 8) => (Kind::Int, n),
            ('u', 1 | 2 | 4 | 8) => (Kind::UInt, n),
            ('f', 4 | 8) => (Kind::Float, n),
            ('O', 4 | 8) => (Kind::Object, n),
            // Zero-width strings cannot hold data and would let a shape claim any element count.
            ('S', 1..) => (Kind::Bytes, n),
            ('U', 1..) => (Kind::Str, n.checked_mul(4).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        Ok(Dtype {
            kind,
            size,
            big_endian: false,
        })
    }

    fn build(&mut self, target: Id, state: Id) -> Result<(), PickleError> {
        let built = match self.obj(target) {
            Obj::Dtype(dtype) => Obj::Dtype(self.dtype_state(*dtype, state)?),
            Obj::EmptyArray => Obj::Array(self.array_state(state)?),
            other => return Err(self.malformed(format!("BUILD on {}", other.describe()))),
        };
        self.arena[target].obj = built;
        Ok(())
    }

    /// dtype state: `(version 3|4, byteorder, subarray, names, fields, elsize, alignment, flags
    /// [, metadata])`.
    fn dtype_state(&self, mut dtype: Dtype, state: Id) -> Result<Dtype, PickleError> {
        let state = self.tuple(state, "dtype state")?;
        if state.len() != 8 && state.len() != 9 {
            return Err(self.unsupported(format!("dtype state with {} fields", state.len())));
        }
        let version = self.int(state[0], "dtype state version")?;
        if version != 3 && version != 4 {
            return Err(self.unsupported(format!("dtype state version {version}")));
        }
        dtype.big_endian = match self.text(state[1], "dtype byte order")? {
            ">" => true,
            // '=' (native) is normalised to '<' or '>' by numpy when pickling; reading it as little
            // endian matches every platform numpy runs on in practice.
            "<" | "|" | "=" => false,
            other => return Err(self.malformed(format!("dtype byte order {:?}", printable(other)))),
        };
        if state[2..5]
            .iter()
            .any(|&id| !matches!(self.obj(id), Obj::None))
        {
            return Err(self.unsupported("structured or sub-array numpy dtype"));
        }
        // For strings the item size in the state is authoritative (bytes, so 4 per char for U).
        let elsize = self.int(state[5], "dtype item size")?;
        if matches!(dtype.kind, Kind::Bytes | Kind::Str) && elsize >= 0 {
            let elsize = usize::try_from(elsize).map_err(|_| self.malformed("dtype item size"))?;
            if elsize == 0 || (dtype.kind == Kind::Str && !elsize.is_multiple_of(4)) {
                return Err(self.malformed(format!("string dtype item size {elsize}")));
            }
            dtype.size = elsize;
        }
        Ok(dtype)
    }

    /// ndarray state: `(version, shape, dtype, is_fortran, rawdata)` (the version is missing in very
    /// old pickles). rawdata is bytes, or a list of items for object arrays.
    fn array_state(&self, state: Id) -> Result<Array, PickleError> {
        let state = self.tuple(state, "ndarray state")?;
        let fields = match state.len() {
            5 => {
                let version = self.int(state[0], "ndarray state version")?;
                if version != 0 && version != 1 {
                    return Err(self.unsupported(format!("ndarray state version {version}")));
                }
                &state[1..]
            }
            4 => state,
            n => return Err(self.malformed(format!("ndarray state with {n} fields"))),
        };
        let shape = self.shape(fields[0])?;
        let dtype = self.dtype(fields[1], "ndarray dtype")?;
        let fortran = self.int(fields[2], "ndarray is_fortran")? != 0;
        if dtype.kind == Kind::Object {
            let items = match self.obj(fields[3]) {
                Obj::List(items) => items,
                other => {
                    return Err(self.malformed(format!(
                        "object array data is {}, expected a list",
                        other.describe()
                    )))
                }
            };
            let count = self.element_count(&shape)?;
            if items.len() != count {
                return Err(self.malformed(format!(
                    "object array of shape {shape:?} has {} item(s)",
                    items.len()
                )));
            }
            // numpy writes object items in C order whatever the memory layout, so no reordering.
            self.charge(8 * items.len())?;
            return Ok(Array {
                shape,
                data: Stored::Objects(items.clone()),
            });
        }
        let raw = self.raw_bytes(fields[3], "ndarray data")?;
        self.plain_array(dtype, shape, fortran, raw)
    }

    fn element_count(&self, shape: &[usize]) -> Result<usize, PickleError> {
        shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.malformed(format!("array shape {shape:?} overflows")))
    }

    fn plain_array(
        &self,
        dtype: Dtype,
        shape: Vec<usize>,
        fortran: bool,
        raw: &[u8],
    ) -> Result<Array, PickleError> {
        let count = self.element_count(&shape)?;
        let mut data = self.decode(dtype, raw, count)?;
        if fortran && shape.len() > 1 {
            // The reordered copy coexists with the decoded one for a moment.
            self.charge(data_bytes(&data))?;
            data = fortran_to_c(data, &shape);
        }
        Ok(Array {
            shape,
            data: Stored::Plain(data),
        })
    }

    /// Decodes `count` elements of a non-object dtype. The data must be exactly count × item size,
    /// which also bounds every allocation below by the bytes really present.
    fn decode(&self, dtype: Dtype, raw: &[u8], count: usize) -> Result<ArrayData, PickleError> {
        let expected = count.checked_mul(dtype.size);
        if expected != Some(raw.len()) {
            return Err(self.malformed(format!(
                "array data is {} bytes, expected {count} element(s) of {} bytes",
                raw.len(),
                dtype.size
            )));
        }
        // Numbers decode to as many bytes as they occupy; each string item adds a Vec/String.
        let strings = matches!(dtype.kind, Kind::Bytes | Kind::Str);
        self.charge(
            raw.len()
                .saturating_add(if strings { count.saturating_mul(24) } else { 0 }),
        )?;
        let be = dtype.big_endian;
        macro_rules! numbers {
            ($variant:ident, $t:ty) => {{
                const N: usize = std::mem::size_of::<$t>();
                ArrayData::$variant(
                    raw.chunks_exact(N)
                        .map(|chunk| {
                            let mut b = [0u8; N];
                            b.copy_from_slice(chunk);
                            if be {
                                <$t>::from_be_bytes(b)
                            } else {
                                <$t>::from_le_bytes(b)
                            }
                        })
                        .collect(),
                )
            }};
        }
        Ok(match (dtype.kind, dtype.size) {
            (Kind::Bool, _) => ArrayData::Bool(raw.iter().map(|&b| b != 0).collect()),
            (Kind::Int, 1) => numbers!(I8, i8),
            (Kind::Int, 2) => numbers!(I16, i16),
            (Kind::Int, 4) => numbers!(I32, i32),
            (Kind::Int, 8) => numbers!(I64, i64),
            (Kind::UInt, 1) => ArrayData::U8(raw.to_vec()),
            (Kind::UInt, 2) => numbers!(U16, u16),
            (Kind::UInt, 4) => numbers!(U32, u32),
            (Kind::UInt, 8) => numbers!(U64, u64),
            (Kind::Float, 4) => numbers!(F32, f32),
            (Kind::Float, 8) => numbers!(F64, f64),
            (Kind::Bytes, size) => ArrayData::Bytes(
                raw.chunks_exact(size)
                    .map(|item| {
                        let end = item.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                        item[..end].to_vec()
                    })
                    .collect(),
            ),
            (Kind::Str, size) => {
                let mut items = Vec::with_capacity(count);
                for item in raw.chunks_exact(size) {
                    let mut s = String::new();
                    for unit in item.chunks_exact(4) {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(unit);
                        let code = if be {
                            u32::from_be_bytes(b)
                        } else {
                            u32::from_le_bytes(b)
                        };
                        let c = char::from_u32(code).ok_or_else(|| {
                            self.malformed(format!("invalid code point {code:#x} in a U array"))
                        })?;
                        s.push(c);
                    }
                    s.truncate(s.trim_end_matches('\0').len());
                    items.push(s);
                }
                ArrayData::Str(items)
            }
            (kind, size) => {
                return Err(self.malformed(format!("no decoder for dtype {kind:?} of size {size}")))
            }
        })
    }

    // --- export: arena → PyValue ---------------------------------------------------------------

    fn export_root(&mut self, root: Id) -> Result<PyValue, PickleError> {
        // How many references reach each object from the root. An object reached once, through a
        // chain of objects each reached once, is moved into the result instead of copied.
        let mut refs = vec![0u32; self.arena.len()];
        refs[root] = 1;
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            for child in self.children(id) {
                refs[child] = refs[child].saturating_add(1);
                if refs[child] == 1 {
                    todo.push(child);
                }
            }
        }
        self.export(root, 0, true, &refs)
    }

    fn children(&self, id: Id) -> Vec<Id> {
        match self.obj(id) {
            Obj::List(items) | Obj::Tuple(items) => items.clone(),
            Obj::Dict(pairs) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Obj::Array(Array {
                data: Stored::Objects(items),
                ..
            }) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// Converts one object (recursively) into a PyValue. `owned`: every object on the path from the
    /// root was reached by a single reference, so this one may be moved out of the arena.
    fn export(
        &mut self,
        id: Id,
        depth: usize,
        owned: bool,
        refs: &[u32],
    ) -> Result<PyValue, PickleError> {
        let offset = self.arena[id].offset;
        if depth > MAX_DEPTH {
            return Err(PickleError::LimitExceeded {
                offset,
                message: format!("nesting deeper than {MAX_DEPTH} (or a self-referencing object)"),
            });
        }
        self.charge_at(offset, std::mem::size_of::<PyValue>())?;
        // Moving is only sound if no other path reaches this object; shared objects are copied,
        // and the copy of array data is charged first.
        let owned = owned && refs[id] == 1;
        let obj = if owned {
            std::mem::replace(&mut self.arena[id].obj, Obj::Taken)
        } else {
            if let Obj::Array(Array {
                shape,
                data: Stored::Plain(data),
            }) = &self.arena[id].obj
            {
                self.charge_at(offset, data_bytes(data) + 8 * shape.len())?;
            }
            self.arena[id].obj.clone()
        };
        let value = match obj {
            Obj::None => PyValue::None,
            Obj::Bool(b) => PyValue::Bool(b),
            Obj::Int(i) => PyValue::Int(i),
            Obj::Float(f) => PyValue::Float(f),
            Obj::Str(s) => {
                self.charge_at(offset, s.len())?;
                PyValue::Str(s)
            }
            Obj::Bytes(buf) => {
                self.charge_at(offset, self.bytes_of(&buf).len())?;
                PyValue::Bytes(match buf {
                    Buf::Owned(v) => v,
                    Buf::Input(range) => self.input[range].to_vec(),
                })
            }
            Obj::List(items) => PyValue::List(self.export_all(items, depth, owned, refs)?),
            Obj::Tuple(items) => PyValue::Tuple(self.export_all(items, depth, owned, refs)?),
            Obj::Dict(pairs) => {
                let mut out = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let k = self.export(k, depth + 1, owned, refs)?;
                    let v = self.export(v, depth + 1, owned, refs)?;
                    out.push((k, v));
                }
                PyValue::Dict(out)
            }
            Obj::Array(Array { shape, data }) => PyValue::Array(NdArray {
                shape,
                data: match data {
                    Stored::Plain(data) => data,
                    Stored::Objects(items) => {
                        ArrayData::Object(self.export_all(items, depth, owned, refs)?)
                    }
                },
            }),
            Obj::Global(g) => {
                return Err(PickleError::Unsupported {
                    offset,
                    message: format!("the function {} as a value", g.name()),
                })
            }
            Obj::Dtype(_) => {
                return Err(PickleError::Unsupported {
                    offset,
                    message: "a numpy.dtype object as a value".into(),
                })
            }
            Obj::EmptyArray => {
                return Err(PickleError::Malformed {
                    offset,
                    message: "ndarray reconstructed but never given its state (BUILD)".into(),
                })
            }
            // Unreachable: an owned object has one reference, so it is visited once.
            Obj::Taken => {
                return Err(PickleError::Malformed {
                    offset,
                    message: "object reached again after being moved".into(),
                })
            }
        };
        Ok(value)
    }

    fn export_all(
        &mut self,
        items: Vec<Id>,
        depth: usize,
        owned: bool,
        refs: &[u32],
    ) -> Result<Vec<PyValue>, PickleError> {
        items
            .into_iter()
            .map(|item| self.export(item, depth + 1, owned, refs))
            .collect()
    }
}

/// Approximate heap size of decoded data, for the budget.
fn data_bytes(data: &ArrayData) -> usize {
    match data {
        ArrayData::Bytes(v) => v.iter().map(|b| b.len() + 24).sum(),
        ArrayData::Str(v) => v.iter().map(|s| s.len() + 24).sum(),
        ArrayData::Object(v) => v.len() * std::mem::size_of::<PyValue>(),
        ArrayData::Bool(v) => v.len(),
        ArrayData::I8(v) => v.len(),
        ArrayData::U8(v) => v.len(),
        ArrayData::I16(v) => v.len() * 2,
        ArrayData::U16(v) => v.len() * 2,
        ArrayData::I32(v) => v.len() * 4,
        ArrayData::U32(v) => v.len() * 4,
        ArrayData::F32(v) => v.len() * 4,
        ArrayData::I64(v) => v.len() * 8,
        ArrayData::U64(v) => v.len() * 8,
        ArrayData::F64(v) => v.len() * 8,
    }
}

/// Reorders column-major (Fortran) elements into row-major (C) order. `shape`'s product is
/// `data.len()` (checked by the caller).
fn fortran_to_c(data: ArrayData, shape: &[usize]) -> ArrayData {
    fn reorder<T: Clone>(data: Vec<T>, shape: &[usize]) -> Vec<T> {
        let n = data.len();
        if shape.len() < 2 || n == 0 {
            return data;
        }
        // Fortran strides in elements: the first axis is contiguous.
        let mut strides = Vec::with_capacity(shape.len());
        let mut stride = 1usize;
        for &d in shape {
            strides.push(stride);
            stride *= d; // at most n: no overflow
        }
        let mut index = vec![0usize; shape.len()];
        let mut source = 0usize;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(data[source].clone());
            // Step the C-order multi-index (last axis fastest) and follow it in Fortran layout.
            for axis in (0..shape.len()).rev() {
                index[axis] += 1;
                source += strides[axis];
                if index[axis] < shape[axis] {
                    break;
                }
                source -= strides[axis] * shape[axis];
                index[axis] = 0;
            }
        }
        out
    }
    match data {
        ArrayData::Bool(v) => ArrayData::Bool(reorder(v, shape)),
        ArrayData::I8(v) => ArrayData::I8(reorder(v, shape)),
        ArrayData::U8(v) => ArrayData::U8(reorder(v, shape)),
        ArrayData::I16(v) => ArrayData::I16(reorder(v, shape)),
        ArrayData::U16(v) => ArrayData::U16(reorder(v, shape)),
        ArrayData::I32(v) => ArrayData::I32(reorder(v, shape)),
        ArrayData::U32(v) => ArrayData::U32(reorder(v, shape)),
        ArrayData::I64(v) => ArrayData::I64(reorder(v, shape)),
        ArrayData::U64(v) => ArrayData::U64(reorder(v, shape)),
        ArrayData::F32(v) => ArrayData::F32(reorder(v, shape)),
        ArrayData::F64(v) => ArrayData::F64(reorder(v, shape)),
        ArrayData::Bytes(v) => ArrayData::Bytes(reorder(v, shape)),
        ArrayData::Str(v) => ArrayData::Str(reorder(v, shape)),
        ArrayData::Object(v) => ArrayData::Object(reorder(v, shape)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Written by make_fixtures.py (numpy 1.26 and 2.x, protocols 2/4/5, and AlphaFold2's own
    /// feature code); each valid `X.pkl` comes with `X.expected`, the same arrays as text.
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pickle");

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(FIXTURES).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn arrays(name: &str) -> Vec<(String, NdArray)> {
        load_array_dict(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn get<'a>(dict: &'a [(String, NdArray)], key: &str) -> &'a NdArray {
        &dict
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no key {key}"))
            .1
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One array in make_fixtures.py's `.expected` line format (floats as IEEE bits, so NaN and
    /// -0.0 compare exactly).
    fn render(key: &str, a: &NdArray) -> String {
        fn ints<T: ToString>(v: &[T]) -> Vec<String> {
            v.iter().map(ToString::to_string).collect()
        }
        let (kind, values) = match &a.data {
            ArrayData::Bool(v) => ("bool", v.iter().map(|&b| u8::from(b).to_string()).collect()),
            ArrayData::I8(v) => ("i8", ints(v)),
            ArrayData::U8(v) => ("u8", ints(v)),
            ArrayData::I16(v) => ("i16", ints(v)),
            ArrayData::U16(v) => ("u16", ints(v)),
            ArrayData::I32(v) => ("i32", ints(v)),
            ArrayData::U32(v) => ("u32", ints(v)),
            ArrayData::I64(v) => ("i64", ints(v)),
            ArrayData::U64(v) => ("u64", ints(v)),
            ArrayData::F32(v) => (
                "f32",
                v.iter().map(|x| format!("{:08x}", x.to_bits())).collect(),
            ),
            ArrayData::F64(v) => (
                "f64",
                v.iter().map(|x| format!("{:016x}", x.to_bits())).collect(),
            ),
            ArrayData::Bytes(v) => ("bytes", v.iter().map(|b| format!("x{}", hex(b))).collect()),
            ArrayData::Str(v) => (
                "str",
                v.iter()
                    .map(|s| format!("x{}", hex(s.as_bytes())))
                    .collect(),
            ),
            ArrayData::Object(v) => (
                "object",
                v.iter()
                    .map(|item| match item {
                        PyValue::None => "n".to_string(),
                        PyValue::Bytes(b) => format!("b:{}", hex(b)),
                        PyValue::Str(s) => format!("s:{}", hex(s.as_bytes())),
                        PyValue::Int(i) => format!("i:{i}"),
                        PyValue::Float(f) => format!("f:{:016x}", f.to_bits()),
                        other => format!("?{}", other.type_name()),
                    })
                    .collect::<Vec<_>>(),
            ),
        };
        let shape = if a.shape.is_empty() {
            "-".to_string()
        } else {
            a.shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("{key}\t{kind}\t{shape}\t{}", values.join(" "))
    }

    fn rendered(name: &str) -> Vec<String> {
        arrays(name).iter().map(|(k, a)| render(k, a)).collect()
    }

    #[test]
    fn every_fixture_matches_its_expected_values() {
        let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
            .expect("fixtures directory (run make_fixtures.py)")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".expected").map(str::to_string))
            .collect();
        names.sort();
        // np1/np2 × af2_like/misc × protocols 2/4/5, plus AlphaFold2's own features.
        assert_eq!(names.len(), 13, "{names:?}");
        for name in names {
            let expected =
                std::fs::read_to_string(Path::new(FIXTURES).join(format!("{name}.expected")))
                    .expect("expected file");
            let expected: Vec<&str> = expected.lines().collect();
            let got = rendered(&format!("{name}.pkl"));
            assert_eq!(got.len(), expected.len(), "{name}: number of keys");
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g, e, "{name}");
            }
        }
    }

    #[test]
    fn numpy_1_and_2_and_all_protocols_agree() {
        for stem in ["af2_like", "misc"] {
            let reference = rendered(&format!("np1_{stem}_p4.pkl"));
            for np in ["np1", "np2"] {
                for proto in [2, 4, 5] {
                    assert_eq!(
                        rendered(&format!("{np}_{stem}_p{proto}.pkl")),
                        reference,
                        "{np} {stem} p{proto}"
                    );
                }
            }
        }
    }

    const AF2_KEYS: [&str; 16] = [
        "aatype",
        "between_segment_residues",
        "domain_name",
        "residue_index",
        "seq_length",
        "sequence",
        "deletion_matrix_int",
        "msa",
        "num_alignments",
        "msa_species_identifiers",
        "template_aatype",
        "template_all_atom_masks",
        "template_all_atom_positions",
        "template_domain_names",
        "template_sequence",
        "template_sum_probs",
    ];

    fn i32s(a: &NdArray) -> &[i32] {
        match &a.data {
            ArrayData::I32(v) => v,
            other => panic!("expected int32, got {}", other.dtype_name()),
        }
    }

    fn f32s(a: &NdArray) -> &[f32] {
        match &a.data {
            ArrayData::F32(v) => v,
            other => panic!("expected float32, got {}", other.dtype_name()),
        }
    }

    #[test]
    fn af2_like_features_values() {
        for np in ["np1", "np2"] {
            for proto in [2, 4, 5] {
                let d = arrays(&format!("{np}_af2_like_p{proto}.pkl"));
                let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(keys, AF2_KEYS);

                let aatype = get(&d, "aatype");
                assert_eq!(aatype.shape, [6, 21]);
                // 'MKVLAX' in restype order ARNDCQEGHILKMFPSTWYV, X -> 20.
                let hot: Vec<usize> = i32s(aatype)
                    .chunks(21)
                    .map(|r| r.iter().position(|&x| x == 1).unwrap())
                    .collect();
                assert_eq!(hot, [12, 11, 19, 10, 0, 20]);
                assert_eq!(i32s(aatype).iter().sum::<i32>(), 6);

                assert_eq!(i32s(get(&d, "between_segment_residues")), [0; 6]);
                assert_eq!(i32s(get(&d, "residue_index")), [0, 1, 2, 3, 4, 5]);
                assert_eq!(i32s(get(&d, "seq_length")), [6; 6]);
                assert_eq!(i32s(get(&d, "num_alignments")), [3; 6]);
                assert_eq!(
                    get(&d, "domain_name").byte_strings().unwrap(),
                    [b"query test"]
                );
                assert_eq!(get(&d, "sequence").byte_strings().unwrap(), [b"MKVLAX"]);
                assert_eq!(get(&d, "sequence").shape, [1]);

                let msa = get(&d, "msa");
                assert_eq!(msa.shape, [3, 6]);
                // HHblits ids (ACDEFGHIKLMNPQRSTVWYX-) of MKVLAX, MRV-AX, --VLGX.
                assert_eq!(
                    i32s(msa),
                    [10, 8, 17, 9, 0, 20, 10, 14, 17, 21, 0, 20, 21, 21, 17, 9, 5, 20]
                );
                let del = i32s(get(&d, "deletion_matrix_int"));
                assert_eq!(
                    (del[6 + 2], del[12 + 4], del.iter().sum::<i32>()),
                    (3, 1, 4)
                );
                let species = get(&d, "msa_species_identifiers").byte_strings().unwrap();
                assert_eq!(species, [&b""[..], b"HUMAN", b""]);

                let t_aatype = get(&d, "template_aatype");
                assert_eq!(t_aatype.shape, [2, 6, 22]);
                for (row, chunk) in f32s(t_aatype).chunks(22).enumerate() {
                    let (k, i) = (row / 6, row % 6);
                    let hot = (i + 3 * k) % 22;
                    for (j, &x) in chunk.iter().enumerate() {
                        assert_eq!(x, if j == hot { 1.0 } else { 0.0 });
                    }
                }
                let masks = get(&d, "template_all_atom_masks");
                assert_eq!(masks.shape, [2, 6, 37]);
                for (row, chunk) in f32s(masks).chunks(37).enumerate() {
                    for (a, &x) in chunk.iter().enumerate() {
                        let on = a < 5 && row != 6;
                        assert_eq!(x, if on { 1.0 } else { 0.0 }, "mask row {row} atom {a}");
                    }
                }
                let pos = get(&d, "template_all_atom_positions");
                assert_eq!(pos.shape, [2, 6, 37, 3]);
                let pos = f32s(pos);
                for k in 0..2 {
                    for i in 0..6 {
                        for a in 0..37 {
                            let at = ((k * 6 + i) * 37 + a) * 3;
                            let want = if a < 4 {
                                let (i, a, k) = (i as f64, a as f64, k as f64);
                                [3.8 * i + 0.125 * a, -1.5 * a + k, 0.125 * (i + a + k)]
                                    .map(|x| x as f32)
                            } else {
                                [0.0; 3]
                            };
                            assert_eq!(pos[at..at + 3], want, "position {k} {i} {a}");
                        }
                    }
                }
                assert_eq!(
                    get(&d, "template_domain_names").byte_strings().unwrap(),
                    [b"1abc_A", b"2xyz_B"]
                );
                assert_eq!(
                    get(&d, "template_sequence").byte_strings().unwrap(),
                    [b"MKVLAX", b"MRVLAX"]
                );
                let probs = get(&d, "template_sum_probs");
                assert_eq!(
                    (probs.shape.as_slice(), f32s(probs)),
                    (&[2, 1][..], &[12.5, 3.25][..])
                );
            }
        }
    }

    #[test]
    fn features_from_alphafold2_pipeline() {
        // make_sequence_features + make_msa_features on tiny40, zero template hits, protocol 4.
        let d = arrays("af2_real_p4.pkl");
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, AF2_KEYS);
        let seq = b"MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV";
        assert_eq!(get(&d, "sequence").byte_strings().unwrap(), [seq]);
        assert_eq!(
            get(&d, "domain_name").byte_strings().unwrap(),
            [b"tiny40 test query"]
        );
        assert_eq!(get(&d, "aatype").shape, [40, 21]);
        assert_eq!(i32s(get(&d, "aatype")).iter().sum::<i32>(), 40);
        assert_eq!(i32s(get(&d, "seq_length")), [40; 40]);
        assert_eq!(i32s(get(&d, "num_alignments")), [5; 40]);
        let msa = get(&d, "msa");
        assert_eq!(msa.shape, [5, 40]);
        assert_eq!(i32s(msa)[..4], [10, 8, 16, 0]); // M K T A
        assert_eq!(i32s(msa)[120..124], [21, 21, 16, 0]); // hom3: --TA
        let del = get(&d, "deletion_matrix_int");
        let sums: Vec<i32> = i32s(del).chunks(40).map(|r| r.iter().sum()).collect();
        assert_eq!(sums, [0, 0, 2, 2, 0]);
        assert_eq!(
            get(&d, "msa_species_identifiers").byte_strings().unwrap(),
            [b""; 5]
        );
        for key in &AF2_KEYS[10..] {
            let a = get(&d, key);
            assert_eq!(a.shape, [0], "{key}");
            let want = if key.ends_with("names") || key.ends_with("sequence") {
                "object"
            } else {
                "float32"
            };
            assert_eq!(a.dtype_name(), want, "{key}");
        }
    }

    #[test]
    fn misc_arrays_values() {
        for np in ["np1", "np2"] {
            for proto in [2, 4, 5] {
                let name = format!("{np}_misc_p{proto}.pkl");
                let d = arrays(&name);
                let a = |k: &str| get(&d, k);
                let shape = |k: &str| a(k).shape.clone();

                assert_eq!(shape("fortran_i16"), [2, 3, 4]);
                assert_eq!(a("fortran_i16").data, ArrayData::I16((0..24).collect()));
                assert_eq!(
                    a("fortran_f64").data,
                    ArrayData::F64(vec![-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
                );
                assert_eq!(shape("fortran_f64"), [3, 2]);
                assert_eq!(
                    a("fortran_obj").byte_strings().unwrap(),
                    [b"a", b"b", b"c", b"d", b"e", b"f"]
                );
                assert_eq!(
                    a("big_endian_i4").data,
                    ArrayData::I32(vec![-3, -2, -1, 0, 1, 2])
                );
                match &a("big_endian_f8").data {
                    ArrayData::F64(v) => assert!(v[0] == 1.5 && v[1] == -2.25 && v[2].is_nan()),
                    other => panic!("{other:?}"),
                }
                assert_eq!(a("big_endian_u2").data, ArrayData::U16(vec![1, 258, 65535]));
                assert_eq!(
                    a("fortran_big_endian_f4").data,
                    ArrayData::F32(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
                );
                assert_eq!(a("u64").data, ArrayData::U64(vec![0, u64::MAX]));
                assert_eq!(a("i64").data, ArrayData::I64(vec![i64::MIN, i64::MAX]));
                assert_eq!(
                    a("bool").data,
                    ArrayData::Bool(vec![true, false, false, true])
                );

                let zero_d = |k: &str, data: ArrayData| {
                    assert_eq!(
                        a(k),
                        &NdArray {
                            shape: vec![],
                            data
                        },
                        "{name} {k}"
                    );
                };
                zero_d("zero_d_i64", ArrayData::I64(vec![-7]));
                zero_d(
                    "zero_d_obj",
                    ArrayData::Object(vec![PyValue::Bytes(b"lonely".to_vec())]),
                );
                zero_d("scalar_f32", ArrayData::F32(vec![2.5]));
                zero_d("scalar_f64", ArrayData::F64(vec![-0.1]));
                zero_d("scalar_i32", ArrayData::I32(vec![-9]));
                zero_d("scalar_bool", ArrayData::Bool(vec![true]));
                zero_d("py_int", ArrayData::I64(vec![42]));
                zero_d("py_neg_int", ArrayData::I64(vec![-100000]));
                zero_d("py_big_int", ArrayData::I64(vec![1 << 40]));
                zero_d("py_neg_big_int", ArrayData::I64(vec![-(1 << 40) - 1]));
                zero_d("py_float", ArrayData::F64(vec![0.1]));
                zero_d("py_bool", ArrayData::Bool(vec![true]));

                assert_eq!(
                    a("empty_f32"),
                    &NdArray {
                        shape: vec![0, 3],
                        data: ArrayData::F32(vec![])
                    }
                );
                assert_eq!(
                    a("empty_obj"),
                    &NdArray {
                        shape: vec![0],
                        data: ArrayData::Object(vec![])
                    }
                );
                assert_eq!(
                    a("empty_bytes"),
                    &NdArray {
                        shape: vec![0],
                        data: ArrayData::Bytes(vec![])
                    }
                );

                assert_eq!(shape("S_fixed"), [2, 2]);
                let s_fixed = ArrayData::Bytes(vec![
                    b"ab".to_vec(),
                    vec![],
                    b"a\0b".to_vec(),
                    b"xyz".to_vec(),
                ]);
                assert_eq!(a("S_fixed").data, s_fixed);
                let strs = |v: &[&str]| ArrayData::Str(v.iter().map(|s| s.to_string()).collect());
                assert_eq!(a("U_fixed").data, strs(&["h\u{e9}llo", "", "\u{1f9ec}x"]));
                assert_eq!(a("U_big_endian").data, strs(&["abc", "d", "\u{ff}"]));
                let mixed = vec![
                    PyValue::Bytes(b"ab".to_vec()),
                    PyValue::Str("str".into()),
                    PyValue::Int(3),
                    PyValue::Float(2.5),
                    PyValue::None,
                ];
                assert_eq!(a("obj_mixed").data, ArrayData::Object(mixed));
                assert_eq!(
                    a("non_contiguous").data,
                    ArrayData::I32(vec![0, 2, 4, 6, 8])
                );
                assert_eq!(
                    a("readonly_f64").data,
                    ArrayData::F64(vec![0.0, 0.25, 0.5, 0.75])
                );
                // The same ndarray object under two keys (a memo reference) is copied, not lost.
                assert_eq!(a("shared_a"), a("shared_b"));
                assert_eq!(a("shared_b").data, ArrayData::F32(vec![0.0, 1.0, 2.0]));
            }
        }
    }

    #[test]
    fn plain_python_values() {
        // pickle.dumps({'a': [1, 2.5, None, True, False, (b'x', 'yé'), {}], 'b': -5, 'c': (),
        //               'd': 2**40, 'e': -1}, protocol=4) and protocol=2.
        let p4: &[u8] = b"\x80\x04\x95L\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88\x89C\x01x\x94\x8c\x03y\xc3\xa9\x94\x86\x94}\x94e\x8c\x01b\x94J\xfb\xff\xff\xff\x8c\x01c\x94)\x8c\x01d\x94\x8a\x06\x00\x00\x00\x00\x00\x01\x8c\x01e\x94J\xff\xff\xff\xffu.";
        let p2: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88\x89c_codecs\nencode\nq\x03X\x01\x00\x00\x00xq\x04X\x06\x00\x00\x00latin1q\x05\x86q\x06Rq\x07X\x03\x00\x00\x00y\xc3\xa9q\x08\x86q\t}q\neX\x01\x00\x00\x00bq\x0bJ\xfb\xff\xff\xffX\x01\x00\x00\x00cq\x0c)X\x01\x00\x00\x00dq\r\x8a\x06\x00\x00\x00\x00\x00\x01X\x01\x00\x00\x00eq\x0eJ\xff\xff\xff\xffu.";
        let s = |s: &str| PyValue::Str(s.to_string());
        let want = PyValue::Dict(vec![
            (
                s("a"),
                PyValue::List(vec![
                    PyValue::Int(1),
                    PyValue::Float(2.5),
                    PyValue::None,
                    PyValue::Bool(true),
                    PyValue::Bool(false),
                    PyValue::Tuple(vec![PyValue::Bytes(b"x".to_vec()), s("y\u{e9}")]),
                    PyValue::Dict(vec![]),
                ]),
            ),
            (s("b"), PyValue::Int(-5)),
            (s("c"), PyValue::Tuple(vec![])),
            (s("d"), PyValue::Int(1 << 40)),
            (s("e"), PyValue::Int(-1)),
        ]);
        assert_eq!(load(p4).unwrap(), want);
        assert_eq!(load(p2).unwrap(), want);
        // Trailing bytes after STOP are ignored, as in Python.
        let mut trailing = p4.to_vec();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(load(&trailing).unwrap(), want);
    }

    #[test]
    fn load_array_dict_rejects_other_shapes_of_data() {
        // {'k': [1, 2]}
        let err = load_array_dict(
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01k\x94]\x94(K\x01K\x02es.",
        )
        .unwrap_err();
        assert!(
            matches!(&err, PickleError::NotAnArray { key, found: "list" } if key == "k"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "key \"k\": expected a numpy array, found list"
        );
        // [1]
        let err = load_array_dict(b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a.")
            .unwrap_err();
        assert!(
            matches!(err, PickleError::NotADict { found: "list" }),
            "{err}"
        );
        // {1: 2}
        let err = load_array_dict(b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00}\x94K\x01K\x02s.")
            .unwrap_err();
        assert!(
            matches!(err, PickleError::NonStringKey { found: "int" }),
            "{err}"
        );
        // {'a': 1, 'a': 2} can only be hand-written.
        let err = load_array_dict(b"\x80\x04}(\x8c\x01aK\x01\x8c\x01aK\x02u.").unwrap_err();
        assert!(
            matches!(&err, PickleError::DuplicateKey { key } if key == "a"),
            "{err}"
        );
    }

    // --- hostile input -----------------------------------------------------------------------------

    fn forbidden(bytes: &[u8]) -> (String, String, usize, String) {
        match load(bytes) {
            Err(e @ PickleError::ForbiddenGlobal { .. }) => {
                let message = e.to_string();
                let PickleError::ForbiddenGlobal {
                    module,
                    name,
                    offset,
                } = e
                else {
                    unreachable!()
                };
                (module, name, offset, message)
            }
            other => panic!("expected ForbiddenGlobal, got {other:?}"),
        }
    }

    #[test]
    fn refuses_code_execution_globals() {
        // GLOBAL 'os system', then REDUCE with ('echo',): refused at the GLOBAL, before REDUCE.
        let (module, name, offset, message) =
            forbidden(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.");
        assert_eq!(
            (module.as_str(), name.as_str(), offset),
            ("os", "system", 2)
        );
        assert_eq!(
            message,
            "refusing to load global 'os.system' (at byte 2): features.pkl files contain only numpy arrays"
        );
        // STACK_GLOBAL 'builtins' 'eval'.
        let (module, name, offset, _) = forbidden(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
        assert_eq!(
            (module.as_str(), name.as_str(), offset),
            ("builtins", "eval", 18)
        );

        // Real pickles of objects whose __reduce__ returns a dangerous callable. os.system pickles
        // as posix.system on Linux.
        for (file, module, name) in [
            ("evil_os_system_p2.pkl", "posix", "system"),
            ("evil_os_system_p4.pkl", "posix", "system"),
            ("evil_eval_p4.pkl", "builtins", "eval"),
            ("evil_popen_p5.pkl", "subprocess", "Popen"),
            ("evil_in_object_array_p4.pkl", "posix", "system"),
        ] {
            let (m, n, _, message) = forbidden(&fixture(file));
            assert_eq!((m.as_str(), n.as_str()), (module, name), "{file}");
            assert!(message.contains(&format!("'{module}.{name}'")), "{message}");
            assert!(matches!(
                load_array_dict(&fixture(file)),
                Err(PickleError::ForbiddenGlobal { .. })
            ));
        }
        let (module, _, _, _) = forbidden(&fixture("masked_array_p4.pkl"));
        assert!(module.starts_with("numpy.ma"), "{module}");
    }

    #[test]
    fn allow_list_is_exact() {
        for (module, name) in [
            ("numpy", "load"),
            ("numpy.core.multiarray", "_reconstruct_x"),
            ("numpy.core.multiarray.x", "_reconstruct"),
            ("numpy.core.numeric", "_reconstruct"),
            ("xnumpy.core.multiarray", "_reconstruct"),
            ("numpy.ctypeslib", "load_library"),
            ("_codecs", "decode"),
            ("builtins", "bytearray"),
            ("builtins", "getattr"),
            ("copyreg", "_reconstructor"),
            ("numpy.core", "multiarray"),
        ] {
            let mut bytes = b"\x80\x02c".to_vec();
            bytes.extend_from_slice(format!("{module}\n{name}\n.").as_bytes());
            let (m, n, _, _) = forbidden(&bytes);
            assert_eq!((m.as_str(), n.as_str()), (module, name));
        }
        // Names from the file are escaped and shortened in the error.
        let mut bytes = b"\x80\x02c\x1b[31mred\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 500));
        bytes.extend_from_slice(b"\n.");
        let (module, name, _, message) = forbidden(&bytes);
        assert_eq!(module, "\\u{1b}[31mred");
        assert!(name.len() == 103 && name.ends_with("..."), "{name}");
        assert!(!message.contains('\x1b'));
    }

    #[test]
    fn every_prefix_is_an_error() {
        for name in [
            "np1_misc_p2.pkl",
            "np2_misc_p5.pkl",
            "np1_af2_like_p4.pkl",
            "af2_real_p4.pkl",
        ] {
            let bytes = fixture(name);
            assert!(load(&bytes).is_ok());
            for len in 0..bytes.len() {
                match load(&bytes[..len]) {
                    Err(PickleError::Truncated { .. }) => {}
                    other => panic!("{name}[..{len}]: expected Truncated, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn claimed_lengths_are_not_trusted() {
        let truncated = |bytes: &[u8], want_needed: u64| match load(bytes) {
            Err(PickleError::Truncated {
                needed, available, ..
            }) => {
                assert_eq!(needed, want_needed);
                assert!(available <= bytes.len());
            }
            other => panic!("expected Truncated, got {other:?}"),
        };
        let mut binbytes8 = b"\x80\x04\x8e".to_vec();
        binbytes8.extend_from_slice(&(1u64 << 40).to_le_bytes());
        binbytes8.extend_from_slice(b"abc.");
        truncated(&binbytes8, 1 << 40);
        truncated(b"\x80\x03B\xff\xff\xff\xffabc.", 0xffff_ffff);
        let mut unicode8 = b"\x80\x04\x8d".to_vec();
        unicode8.extend_from_slice(&u64::MAX.to_le_bytes());
        truncated(&unicode8, u64::MAX);
        let mut frame = b"\x80\x04\x95".to_vec();
        frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
        frame.extend_from_slice(b"N.");
        truncated(&frame, 1 << 40);
        truncated(b"\x80\x04\x8b\xff\xff\xff\xff\x01", 0xffff_ffff); // LONG4
        truncated(
            b"\x80\x04\x96\xff\xff\xff\xff\xff\xff\xff\x7f",
            0x7fff_ffff_ffff_ffff,
        ); // BYTEARRAY8
        truncated(b"\x80\x02cnumpy\ndtype", 6); // GLOBAL line without its newline
        truncated(b"", 1);

        // A memo key is a map key, not an index to allocate up to.
        assert_eq!(
            load(b"\x80\x04Nr\xff\xff\xff\xff0j\xff\xff\xff\xff.").unwrap(),
            PyValue::None
        );
        assert!(matches!(
            load(b"\x80\x04j\x00\x00\x00\x01."),
            Err(PickleError::Malformed { .. })
        ));
    }

    #[test]
    fn opcode_errors_name_the_opcode() {
        let err = load(b"\x80\x04N\xff.").unwrap_err();
        assert!(
            matches!(
                err,
                PickleError::UnknownOpcode {
                    opcode: 0xff,
                    offset: 3
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "unknown pickle opcode 0xff at byte 3");
        let err = load(b"\x80\x04\x81").unwrap_err();
        assert!(
            matches!(
                err,
                PickleError::UnsupportedOpcode {
                    opcode: 0x81,
                    name: "NEWOBJ",
                    offset: 2
                }
            ),
            "{err:?}"
        );
        let err = load(b"\x80\x02I1\n.").unwrap_err();
        assert!(
            matches!(err, PickleError::UnsupportedOpcode { name: "INT", .. }),
            "{err:?}"
        );
        for (bytes, name) in [
            (&b"\x80\x05\x97."[..], "NEXT_BUFFER"),
            (b"\x80\x05\x98.", "READONLY_BUFFER"),
        ] {
            let err = load(bytes).unwrap_err();
            assert!(
                matches!(err, PickleError::OutOfBandBuffer { name: n, offset: 2 } if n == name),
                "{err:?}"
            );
            assert!(err
                .to_string()
                .starts_with("out-of-band buffers not supported"));
        }
        assert!(matches!(
            load(b"\x80\x06N."),
            Err(PickleError::Unsupported { .. })
        ));
        // Stack discipline: nothing pops below a MARK, STOP wants exactly one object.
        for bad in [
            &b"\x80\x04."[..],
            b"\x80\x04NN.",
            b"\x80\x04(N.",
            b"\x80\x04N(a.",
            b"\x80\x04t.",
            b"\x80\x040.",
            b"\x80\x04N(R.",
        ] {
            assert!(
                matches!(load(bad), Err(PickleError::Malformed { .. })),
                "{bad:?}: {:?}",
                load(bad)
            );
        }
        // POP with nothing above a MARK removes the MARK, as in Python.
        assert_eq!(load(b"\x80\x04N(0.").unwrap(), PyValue::None);
    }

    #[test]
    fn nesting_cycles_and_sharing_are_bounded() {
        // 100k nested lists: an error, not a stack overflow.
        let mut deep = b"\x80\x04".to_vec();
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(std::iter::repeat_n(b'a', 99_999));
        deep.push(b'.');
        assert!(matches!(
            load(&deep),
            Err(PickleError::LimitExceeded { .. })
        ));
        // A list that contains itself.
        assert!(matches!(
            load(b"\x80\x04]\x94h\x00a."),
            Err(PickleError::LimitExceeded { .. })
        ));
        // 64 levels of a list holding the previous level twice: 2^64 leaves from 1 KB.
        let mut dag = b"\x80\x04]\x940".to_vec();
        for level in 0u32..64 {
            dag.push(b'(');
            for _ in 0..2 {
                dag.push(b'j');
                dag.extend_from_slice(&level.to_le_bytes());
            }
            dag.extend_from_slice(b"l\x940");
        }
        dag.push(b'j');
        dag.extend_from_slice(&64u32.to_le_bytes());
        dag.push(b'.');
        assert!(matches!(load(&dag), Err(PickleError::LimitExceeded { .. })));
        // A little sharing is fine: the same bytes object referenced three times.
        let shared = load(b"\x80\x04C\x02ab\x940(h\x00h\x00h\x00l.").unwrap();
        let ab = PyValue::Bytes(b"ab".to_vec());
        assert_eq!(shared, PyValue::List(vec![ab.clone(), ab.clone(), ab]));
    }

    #[test]
    fn one_buffer_decoded_many_times_is_bounded() {
        // _frombuffer(buf, uint8, (1 MiB,), 'C') 5000 times over one memoized 1 MiB buffer would
        // be 5 GB of arrays from a 1 MB file.
        let mut p = b"\x80\x04\x8c\x12numpy.core.numeric\x8c\x0b_frombuffer\x93\x940".to_vec();
        p.extend_from_slice(b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02u1\x85R\x940");
        p.push(0x8e);
        p.extend_from_slice(&(1u64 << 20).to_le_bytes());
        p.extend(std::iter::repeat_n(7u8, 1 << 20));
        p.extend_from_slice(b"\x940J");
        p.extend_from_slice(&(1i32 << 20).to_le_bytes());
        p.extend_from_slice(b"\x85\x940\x8c\x01C\x940](");
        let head = p.len();
        for _ in 0..5000 {
            p.extend_from_slice(b"h\x00(h\x02h\x01h\x03h\x04tR");
        }
        p.extend_from_slice(b"e.");
        match load(&p) {
            Err(PickleError::LimitExceeded { message, .. }) => {
                assert!(message.contains("far more data"), "{message}")
            }
            other => panic!(
                "expected LimitExceeded, got {:?}",
                other.map(|v| v.type_name())
            ),
        }
        // The same pickle with 3 copies is fine.
        let mut ok = p[..head].to_vec();
        for _ in 0..3 {
            ok.extend_from_slice(b"h\x00(h\x02h\x01h\x03h\x04tR");
        }
        ok.extend_from_slice(b"e.");
        let PyValue::List(arrays) = load(&ok).unwrap() else {
            panic!("expected a list")
        };
        assert_eq!(arrays.len(), 3);
        assert!(arrays.iter().all(|a| matches!(a, PyValue::Array(NdArray { data: ArrayData::U8(v), .. }) if v.len() == 1 << 20 && v[5] == 7)));
    }

    /// A protocol 2 ndarray pickle written opcode by opcode, so a test can lie in any field.
    /// `dtype_state` is the inside of the dtype's BUILD tuple.
    fn array_pickle_with(
        shape: &[u64],
        code: &str,
        dtype_state: &[u8],
        fortran: bool,
        raw: &[u8],
    ) -> Vec<u8> {
        let mut p = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01(".to_vec();
        for &d in shape {
            p.extend_from_slice(b"\x8a\x08");
            p.extend_from_slice(&d.to_le_bytes());
        }
        p.extend_from_slice(b"tcnumpy\ndtype\n\x8c");
        p.push(code.len() as u8);
        p.extend_from_slice(code.as_bytes());
        p.extend_from_slice(b"\x89\x88\x87R(");
        p.extend_from_slice(dtype_state);
        p.extend_from_slice(b"tb");
        p.push(if fortran { 0x88 } else { 0x89 });
        p.push(0x8e);
        p.extend_from_slice(&(raw.len() as u64).to_le_bytes());
        p.extend_from_slice(raw);
        p.extend_from_slice(b"tb.");
        p
    }

    fn array_pickle(shape: &[u64], code: &str, order: u8, fortran: bool, raw: &[u8]) -> Vec<u8> {
        let mut state = b"K\x03\x8c\x01".to_vec();
        state.push(order);
        state.extend_from_slice(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00");
        array_pickle_with(shape, code, &state, fortran, raw)
    }

    #[test]
    fn hand_built_arrays() {
        let raw: Vec<u8> = (1..=6).flat_map(|x: i32| x.to_be_bytes()).collect();
        let a = load(&array_pickle(&[3, 2], "i4", b'>', true, &raw)).unwrap();
        // Fortran [[1,4],[2,5],[3,6]] in memory order 1..6 is C order 1,4,2,5,3,6.
        let want = NdArray {
            shape: vec![3, 2],
            data: ArrayData::I32(vec![1, 4, 2, 5, 3, 6]),
        };
        assert_eq!(a, PyValue::Array(want));

        let malformed = |bytes: Vec<u8>| match load(&bytes) {
            Err(PickleError::Malformed { message, .. }) => message,
            other => panic!("expected Malformed, got {other:?}"),
        };
        // Shapes whose product overflows, or claims more data than is present.
        let m = malformed(array_pickle(
            &[1 << 32, 1 << 32, 1 << 32],
            "f4",
            b'<',
            false,
            &[0; 8],
        ));
        assert!(m.contains("overflows"), "{m}");
        let m = malformed(array_pickle(&[1 << 40], "f4", b'<', false, &[0; 8]));
        assert!(m.contains("expected 1099511627776 element(s)"), "{m}");
        let m = malformed(array_pickle(&[2], "f8", b'<', false, &[0; 17]));
        assert!(m.contains("17 bytes"), "{m}");
        // A dimension that does not fit usize (a negative Python int).
        malformed(array_pickle(&[u64::MAX], "u1", b'|', false, b""));
        malformed(array_pickle(&[2], "f4", b'!', false, &[0; 8]));
        // Invalid UTF-32.
        malformed(array_pickle(
            &[1],
            "U1",
            b'<',
            false,
            &0xd800u32.to_le_bytes(),
        ));

        let unsupported = |bytes: Vec<u8>| match load(&bytes) {
            Err(PickleError::Unsupported { message, .. }) => message,
            other => panic!("expected Unsupported, got {other:?}"),
        };
        for code in [
            "f2", "c8", "c16", "M8", "V8", "S0", "U0", "i3", "f", "", "\u{e9}4",
        ] {
            let m = unsupported(array_pickle(&[0], code, b'<', false, b""));
            assert!(m.contains("numpy dtype"), "{m}");
        }
        // Structured dtype: names not None.
        let state = b"K\x03\x8c\x01|N\x8c\x01a\x85}J\x08\x00\x00\x00J\x01\x00\x00\x00K\x10";
        let m = unsupported(array_pickle_with(&[1], "V8", state, false, &[0; 8]));
        assert!(m.contains("V8"), "{m}");
        let state = b"K\x03\x8c\x01<N\x8c\x01a\x85}J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x10";
        let m = unsupported(array_pickle_with(&[1], "f8", state, false, &[0; 8]));
        assert!(m.contains("structured"), "{m}");
    }

    /// Random byte edits of real pickles: any result is fine, a panic or hang is not.
    #[test]
    fn mutated_pickles_do_not_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in [
            "np1_misc_p2.pkl",
            "np2_misc_p4.pkl",
            "np2_misc_p5.pkl",
            "af2_real_p4.pkl",
        ] {
            let original = fixture(name);
            for _ in 0..1500 {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = match next() % 3 {
                        0 => next() as u8,
                        1 => bytes[at].wrapping_add(1),
                        _ => 0xff,
                    };
                }
                let _ = load(&bytes);
                let _ = load_array_dict(&bytes);
            }
        }
    }
}
