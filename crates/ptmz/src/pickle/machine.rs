//! The pickle virtual machine: opcodes of protocols 0–5 as Python's `pickle` and torch write
//! them (reference: CPython Lib/pickletools.py), with every global, call and persistent id
//! handed to `torch.rs`.
//!
//! Why not a crate: `serde-pickle` (the maintained one) resolves only a fixed set of builtins
//! and has no hook for persistent ids, which every torch storage is; the opcodes torch uses
//! are few. Lengths in the input are checked against the bytes left before anything is
//! allocated, and the stack and memo can grow by at most one entry per input byte.

use std::collections::HashMap;
use std::rc::Rc;

use super::torch::{call, new_object, persistent_load, resolve_global};
use super::value::{Global, Value};
use super::PickleError;

/// Decode the pickle at the start of `data`; returns the value and the bytes consumed (the
/// legacy format puts five pickles back to back).
pub(crate) fn decode(data: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() };
    let value = machine.run()?;
    Ok((value, machine.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    /// Keyed by the pickle's index, not a Vec indexed by it: `LONG_BINPUT 4e9` must not allocate.
    memo: HashMap<u32, Value>,
}

type Step = Result<(), String>;

impl Machine<'_> {
    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let at = self.pos;
            let op = self.bytes(1).map_err(|message| PickleError::Malformed { offset: at, message })?[0];
            if op == b'.' {
                return self.pop().map_err(|message| PickleError::Malformed { offset: at, message });
            }
            self.step(op).map_err(|e| match e {
                Failure::Refused { module, name } => PickleError::Refused { module, name },
                Failure::Bad(message) => PickleError::Malformed { offset: at, message },
            })?;
        }
    }

    #[allow(clippy::too_many_lines)] // one arm per opcode reads best as one table
    fn step(&mut self, op: u8) -> Result<(), Failure> {
        match op {
            // Framing and protocol: nothing to do (FRAME's length is advisory).
            0x80 => drop(self.bytes(1)?),
            0x95 => drop(self.bytes(8)?),
            b'(' => self.marks.push(self.stack.len()),
            b'0' => drop(self.pop()?),
            b'1' => drop(self.pop_mark()?),
            b'2' => {
                let top = self.top()?.clone();
                self.stack.push(top);
            }
            // Constants and numbers.
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.array()?);
                self.stack.push(Value::Int(v.into()));
            }
            b'K' => {
                let v = self.bytes(1)?[0];
                self.stack.push(Value::Int(v.into()));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.array()?);
                self.stack.push(Value::Int(v.into()));
            }
            0x8a => {
                let n = usize::from(self.bytes(1)?[0]);
                let v = long(self.bytes(n)?);
                self.stack.push(v);
            }
            0x8b => {
                let n = self.len4()?;
                let v = long(self.bytes(n)?);
                self.stack.push(v);
            }
            b'G' => {
                let v = f64::from_be_bytes(self.array()?);
                self.stack.push(Value::Float(v));
            }
            // Strings and bytes. Protocol-2 `str` of Python 2 (BINSTRING) decodes as latin-1
            // bytes; state-dict keys are always BINUNICODE.
            b'X' => self.unicode(4)?,
            0x8c => self.unicode(1)?,
            0x8d => self.unicode(8)?,
            b'T' | b'B' => self.byte_string(4)?,
            b'U' | b'C' => self.byte_string(1)?,
            0x8e | 0x96 => self.byte_string(8)?,
            // Containers.
            b')' => self.stack.push(Value::Tuple(Rc::from(Vec::new()))),
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n {
                    return Err(bad("tuple of more items than the stack holds"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(Rc::from(items)));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(Rc::from(items)));
            }
            b']' | 0x8f => self.stack.push(Value::new_list(Vec::new())),
            b'l' | 0x91 => {
                let items = self.pop_mark()?;
                self.stack.push(Value::new_list(items));
            }
            b'}' => self.stack.push(Value::new_dict()),
            b'd' => {
                let items = self.pop_mark()?;
                let dict = Value::new_dict();
                set_items(&dict, items)?;
                self.stack.push(dict);
            }
            b'a' => {
                let item = self.pop()?;
                extend(self.top()?, vec![item])?;
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                extend(self.top()?, items)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                set_items(self.top()?, vec![key, value])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                set_items(self.top()?, items)?;
            }
            // Memo.
            b'q' | b'r' | 0x94 => {
                let index = match op {
                    b'q' => u32::from(self.bytes(1)?[0]),
                    b'r' => u32::from_le_bytes(self.array()?),
                    _ => u32::try_from(self.memo.len()).map_err(|_| bad("memo overflow"))?,
                };
                self.put(index)?;
            }
            b'h' | b'j' => {
                let index =
                    if op == b'h' { u32::from(self.bytes(1)?[0]) } else { u32::from_le_bytes(self.array()?) };
                self.get(index)?;
            }
            // Globals: the allow-list decides before anything reaches the stack.
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let global = allowed(&module, &name)?;
                self.stack.push(Value::Global(global));
            }
            0x93 => {
                let name = self.pop_str()?;
                let module = self.pop_str()?;
                let global = allowed(&module, &name)?;
                self.stack.push(Value::Global(global));
            }
            b'i' => {
                // INST: `module.name(*args)` from the mark; checked like any other global.
                let module = self.line()?;
                let name = self.line()?;
                let global = allowed(&module, &name)?;
                let args = self.pop_mark()?;
                self.stack.push(call(&global, &args).map_err(Failure::Bad)?);
            }
            // Calls and objects.
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let Value::Tuple(args) = args else { return Err(bad("REDUCE arguments are not a tuple")) };
                let Value::Global(global) = callable else {
                    return Err(bad(&format!("REDUCE of a {}, not an allowed global", callable.kind())));
                };
                self.stack.push(call(&global, &args).map_err(Failure::Bad)?);
            }
            0x81 | 0x92 => {
                if op == 0x92 {
                    self.pop()?; // kwargs
                }
                self.pop()?; // args
                let Value::Global(class) = self.pop()? else { return Err(bad("NEWOBJ of a non-class")) };
                self.stack.push(new_object(&class).map_err(Failure::Bad)?);
            }
            b'b' => {
                // BUILD: `obj.__setstate__(state)`. Only an OrderedDict's attributes (a state
                // dict's `_metadata` of module versions) are expected; they are dropped.
                let _state = self.pop()?;
                if !matches!(self.top()?, Value::Dict(_)) {
                    return Err(bad(&format!("BUILD on a {}", self.top()?.kind())));
                }
            }
            b'Q' => {
                let pid = self.pop()?;
                self.stack.push(persistent_load(&pid).map_err(Failure::Bad)?);
            }
            0x98 => {} // READONLY_BUFFER: a no-op on the value
            _ => return Err(bad(&format!("unsupported opcode 0x{op:02x}"))),
        }
        Ok(())
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len());
        let Some(end) = end else {
            return Err(format!(
                "needs {n} more bytes but the pickle ends {} bytes on",
                self.data.len() - self.pos
            ));
        };
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.bytes(N)?.try_into().expect("bytes returns exactly N"))
    }

    fn len4(&mut self) -> Result<usize, String> {
        usize::try_from(u32::from_le_bytes(self.array()?)).map_err(|_| "length overflow".into())
    }

    /// A length prefix of `width` bytes; `bytes` then checks it against what is left.
    fn length(&mut self, width: usize) -> Result<usize, String> {
        let raw = self.bytes(width)?;
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(raw);
        usize::try_from(u64::from_le_bytes(buf)).map_err(|_| "length overflow".into())
    }

    fn unicode(&mut self, width: usize) -> Step {
        let n = self.length(width)?;
        let text = std::str::from_utf8(self.bytes(n)?).map_err(|_| "string is not UTF-8".to_owned())?;
        let value = Value::Str(text.into());
        self.stack.push(value);
        Ok(())
    }

    fn byte_string(&mut self, width: usize) -> Step {
        let n = self.length(width)?;
        let value = Value::Bytes(self.bytes(n)?.into());
        self.stack.push(value);
        Ok(())
    }

    /// A newline-terminated ASCII argument (GLOBAL, INST).
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or("unterminated global name")?;
        let text =
            std::str::from_utf8(&rest[..n]).map_err(|_| "global name is not UTF-8".to_owned())?.to_owned();
        self.pos += n + 1;
        Ok(text)
    }

    fn pop(&mut self) -> Result<Value, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("pop from an empty stack".into());
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    fn pop_str(&mut self) -> Result<String, String> {
        match self.pop()? {
            Value::Str(s) => Ok(s.to_string()),
            other => Err(format!("STACK_GLOBAL name is a {}", other.kind())),
        }
    }

    fn top(&self) -> Result<&Value, String> {
        self.stack.last().ok_or_else(|| "empty stack".to_owned())
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(self.stack.split_off(mark))
    }

    fn put(&mut self, index: u32) -> Step {
        let top = self.top()?.clone();
        self.memo.insert(index, top);
        Ok(())
    }

    fn get(&mut self, index: u32) -> Step {
        let value = self.memo.get(&index).ok_or_else(|| format!("memo {index} was never stored"))?.clone();
        self.stack.push(value);
        Ok(())
    }
}

/// Why one opcode failed: a refused global is kept apart so its error names it.
enum Failure {
    Refused { module: String, name: String },
    Bad(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Bad(message)
    }
}

fn bad(message: &str) -> Failure {
    Failure::Bad(message.to_owned())
}

fn allowed(module: &str, name: &str) -> Result<Global, Failure> {
    resolve_global(module, name).ok_or_else(|| Failure::Refused { module: module.into(), name: name.into() })
}

/// LONG1/LONG4: little-endian two's complement of any width.
fn long(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.into())
    }
}

fn extend(target: &Value, items: Vec<Value>) -> Step {
    match target {
        Value::List(list) => {
            list.borrow_mut().extend(items);
            Ok(())
        }
        other => Err(format!("APPEND to a {}", other.kind())),
    }
}

fn set_items(target: &Value, items: Vec<Value>) -> Step {
    let Value::Dict(dict) = target else { return Err(format!("SETITEM on a {}", target.kind())) };
    if !items.len().is_multiple_of(2) {
        return Err("SETITEMS with an odd number of items".into());
    }
    let mut dict = dict.borrow_mut();
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        dict.push((key, value));
    }
    Ok(())
}
