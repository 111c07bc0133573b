//! A minimal, safe pickle reader: enough to read NumPy object arrays of Python lists of ints.
//!
//! Keras's `imdb.npz` and `reuters.npz` store ragged word-id sequences as NumPy object arrays, which
//! `np.save` writes as a pickled `ndarray`. This module runs the pickle opcodes of protocols 2-5 as a
//! pure data interpreter: `GLOBAL`/`REDUCE`/`BUILD` build inert [`Py::Object`] records and never call
//! anything, so a malicious file can at worst produce an error. Unknown opcodes are errors.

use std::cell::RefCell;
use std::rc::Rc;

/// A decoded pickle value.
#[derive(Debug, Clone)]
pub enum Py {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// Shared because memoized lists are filled after they are stored (`EMPTY_LIST, BINPUT, ..., APPENDS`).
    List(Rc<RefCell<Vec<Py>>>),
    Tuple(Rc<Vec<Py>>),
    Dict(Rc<RefCell<Vec<(Py, Py)>>>),
    /// A `module.name` reference, never resolved.
    Global(Rc<(String, String)>),
    /// The record of `callable(*args)` followed by an optional `BUILD` state.
    Object(Rc<PyObject>),
}

impl Py {
    /// The Python type name, for error messages (a value's Debug form can be megabytes long).
    pub fn kind(&self) -> &'static str {
        match self {
            Py::None => "None",
            Py::Bool(_) => "bool",
            Py::Int(_) => "int",
            Py::Float(_) => "float",
            Py::Str(_) => "str",
            Py::Bytes(_) => "bytes",
            Py::List(_) => "list",
            Py::Tuple(_) => "tuple",
            Py::Dict(_) => "dict",
            Py::Global(_) => "global",
            Py::Object(_) => "object",
        }
    }
}

/// Dropping a value frees its children by hand, with a worklist: the
/// derived drop would recurse once per nesting level, and a pickle of a few
/// kilobytes can nest hundreds of thousands of tuples (or lists appended
/// into each other through the memo), which would overflow the stack.
impl Drop for Py {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut value) = pending.pop() {
            value.take_children(&mut pending);
        }
    }
}

impl Py {
    /// Clones of the values this one holds directly.
    fn children(&self) -> Vec<Py> {
        match self {
            Py::List(items) => items.borrow().clone(),
            Py::Tuple(items) => items.as_ref().clone(),
            Py::Dict(pairs) => pairs.borrow().iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
            Py::Object(obj) => {
                let mut out = vec![obj.callable.clone(), obj.args.clone()];
                out.extend(obj.state.borrow().clone());
                out
            }
            _ => Vec::new(),
        }
    }

    /// Moves what a mutable container holds into `out`, shared or not.
    fn empty_into(&self, out: &mut Vec<Py>) {
        match self {
            Py::List(items) => out.append(&mut items.borrow_mut()),
            Py::Dict(pairs) => {
                for (k, v) in pairs.borrow_mut().drain(..) {
                    out.push(k);
                    out.push(v);
                }
            }
            Py::Object(obj) => out.extend(obj.state.borrow_mut().take()),
            _ => {}
        }
    }

    /// Moves the children of a value nothing else refers to into `out`,
    /// leaving it shallow. Shared values keep theirs: another owner drops them.
    fn take_children(&mut self, out: &mut Vec<Py>) {
        match self {
            Py::List(items) => {
                if let Some(items) = Rc::get_mut(items) {
                    out.append(items.get_mut());
                }
            }
            Py::Tuple(items) => {
                if let Some(items) = Rc::get_mut(items) {
                    out.append(items);
                }
            }
            Py::Dict(pairs) => {
                if let Some(pairs) = Rc::get_mut(pairs) {
                    for (k, v) in pairs.get_mut().drain(..) {
                        out.push(k);
                        out.push(v);
                    }
                }
            }
            Py::Object(obj) => {
                if let Some(obj) = Rc::get_mut(obj) {
                    out.push(std::mem::replace(&mut obj.callable, Py::None));
                    out.push(std::mem::replace(&mut obj.args, Py::None));
                    out.extend(obj.state.get_mut().take());
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
pub struct PyObject {
    pub callable: Py,
    pub args: Py,
    pub state: RefCell<Option<Py>>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("pickle truncated: needed {n} bytes at offset {}, {} left", self.pos, self.bytes.len() - self.pos)
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32le(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64le(&mut self) -> Result<usize, String> {
        let b = self.take(8)?;
        let v = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        usize::try_from(v).map_err(|_| format!("pickle length {v} does not fit in memory"))
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or("pickle truncated inside a GLOBAL name")?;
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(text)
    }
}

fn utf8(bytes: &[u8]) -> Result<Py, String> {
    String::from_utf8(bytes.to_vec()).map(Py::Str).map_err(|e| format!("invalid UTF-8 in pickled string: {e}"))
}

/// Little-endian two's-complement integer of `LONG1`/`LONG4`, limited to what fits in an i64.
fn long(bytes: &[u8]) -> Result<Py, String> {
    if bytes.is_empty() {
        return Ok(Py::Int(0));
    }
    if bytes.len() > 8 {
        return Err(format!("pickled integer of {} bytes does not fit in 64 bits", bytes.len()));
    }
    let fill = if bytes[bytes.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(Py::Int(i64::from_le_bytes(buf)))
}

/// Decodes one pickle stream into a value.
///
/// Lists, dicts and objects are mutable, so a stream can make one contain
/// itself (`EMPTY_LIST, DUP, APPEND`); reference-counted values in a cycle
/// would never be freed. Every container made is kept until the end: a
/// result holding a cycle is an error, and every container the result does
/// not hold is emptied, which frees any cycle among them.
pub fn parse(bytes: &[u8]) -> Result<Py, String> {
    let mut containers = Vec::new();
    let result = parse_stream(bytes, &mut containers);
    let reachable = match &result {
        Ok(value) => reachable_containers(value),
        Err(_) => Ok(std::collections::HashSet::new()),
    };
    let mut garbage = Vec::new();
    for c in &containers {
        let kept = reachable.as_ref().is_ok_and(|r| r.contains(&container_id(c)));
        if !kept {
            c.empty_into(&mut garbage);
        }
    }
    drop(garbage);
    drop(containers);
    match reachable {
        Err(e) => {
            if let Ok(v) = result {
                // Its containers were emptied above; what is left is shallow.
                drop(v);
            }
            Err(e)
        }
        Ok(_) => result,
    }
}

/// The address of a container's shared cell (0 for other values).
fn container_id(value: &Py) -> usize {
    match value {
        Py::List(l) => Rc::as_ptr(l) as *const () as usize,
        Py::Dict(d) => Rc::as_ptr(d) as *const () as usize,
        Py::Object(o) => Rc::as_ptr(o) as *const () as usize,
        Py::Tuple(t) => Rc::as_ptr(t) as *const () as usize,
        _ => 0,
    }
}

/// The containers `root` holds, found without recursion; an error if one
/// of them contains itself.
fn reachable_containers(root: &Py) -> Result<std::collections::HashSet<usize>, String> {
    use std::collections::HashMap;
    // 1 = on the current path, 2 = finished.
    let mut state: HashMap<usize, u8> = HashMap::new();
    // (value, whether its children were pushed)
    let mut work: Vec<(Py, bool)> = vec![(root.clone(), false)];
    while let Some((value, expanded)) = work.pop() {
        let id = container_id(&value);
        if id == 0 {
            continue;
        }
        if expanded {
            state.insert(id, 2);
            continue;
        }
        match state.get(&id) {
            Some(1) => return Err("the pickle holds a reference cycle (a list or dict that contains itself)".into()),
            Some(_) => continue,
            None => {}
        }
        state.insert(id, 1);
        work.push((value.clone(), true));
        for child in value.children() {
            if container_id(&child) != 0 {
                if state.get(&container_id(&child)) == Some(&1) {
                    return Err("the pickle holds a reference cycle (a list or dict that contains itself)".into());
                }
                work.push((child, false));
            }
        }
    }
    Ok(state.into_keys().collect())
}

fn parse_stream(bytes: &[u8], containers: &mut Vec<Py>) -> Result<Py, String> {
    let mut r = Reader { bytes, pos: 0 };
    let mut stack: Vec<Py> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Option<Py>> = Vec::new();

    fn pop(stack: &mut Vec<Py>) -> Result<Py, String> {
        stack.pop().ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(stack: &mut Vec<Py>, marks: &mut Vec<usize>) -> Result<Vec<Py>, String> {
        let m = marks.pop().ok_or("pickle uses MARK-based opcode without a MARK")?;
        if m > stack.len() {
            return Err("pickle MARK is above the stack top".into());
        }
        Ok(stack.split_off(m))
    }
    // A stream stores at most one memo entry per opcode, so an index beyond
    // its length is not from a real pickler and would only allocate.
    let memo_limit = bytes.len();
    let put = |memo: &mut Vec<Option<Py>>, idx: usize, value: Py| -> Result<(), String> {
        if idx > memo_limit {
            return Err(format!("pickle memo index {idx} is unreasonably large"));
        }
        if memo.len() <= idx {
            memo.resize(idx + 1, None);
        }
        memo[idx] = Some(value);
        Ok(())
    };
    fn top(stack: &[Py]) -> Result<&Py, String> {
        stack.last().ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn extend_list(list: &Py, items: Vec<Py>) -> Result<(), String> {
        match list {
            Py::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(format!("pickle APPEND target is not a list but {}", other.kind())),
        }
    }
    fn set_items(dict: &Py, items: Vec<Py>) -> Result<(), String> {
        let Py::Dict(d) = dict else { return Err("pickle SETITEM target is not a dict".into()) };
        if !items.len().is_multiple_of(2) {
            return Err("pickle SETITEMS has an odd number of items".into());
        }
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.borrow_mut().push((k, v));
        }
        Ok(())
    }

    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(format!("unsupported pickle protocol {proto}"));
                }
            }
            0x95 => {
                r.take(8)?;
            }
            b'.' => return pop(&mut stack),
            b'(' => marks.push(stack.len()),
            b')' => stack.push(Py::Tuple(Rc::new(Vec::new()))),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow in TUPLEn".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Py::Tuple(Rc::new(items)));
            }
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Py::Tuple(Rc::new(items)));
            }
            b']' => {
                let list = Py::List(Rc::new(RefCell::new(Vec::new())));
                containers.push(list.clone());
                stack.push(list);
            }
            b'l' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let list = Py::List(Rc::new(RefCell::new(items)));
                containers.push(list.clone());
                stack.push(list);
            }
            b'a' => {
                let item = pop(&mut stack)?;
                extend_list(top(&stack)?, vec![item])?;
            }
            b'e' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                extend_list(top(&stack)?, items)?;
            }
            b'}' => {
                let dict = Py::Dict(Rc::new(RefCell::new(Vec::new())));
                containers.push(dict.clone());
                stack.push(dict);
            }
            b'd' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let dict = Py::Dict(Rc::new(RefCell::new(Vec::new())));
                containers.push(dict.clone());
                set_items(&dict, items)?;
                stack.push(dict);
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                set_items(top(&stack)?, vec![k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                set_items(top(&stack)?, items)?;
            }
            b'N' => stack.push(Py::None),
            0x88 => stack.push(Py::Bool(true)),
            0x89 => stack.push(Py::Bool(false)),
            b'J' => {
                let b = r.take(4)?;
                stack.push(Py::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64));
            }
            b'K' => stack.push(Py::Int(r.u8()? as i64)),
            b'M' => {
                let b = r.take(2)?;
                stack.push(Py::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            0x8a => {
                let n = r.u8()? as usize;
                stack.push(long(r.take(n)?)?);
            }
            0x8b => {
                let n = r.u32le()?;
                stack.push(long(r.take(n)?)?);
            }
            b'G' => {
                let b = r.take(8)?;
                stack.push(Py::Float(f64::from_be_bytes(b.try_into().expect("8 bytes"))));
            }
            b'X' => {
                let n = r.u32le()?;
                stack.push(utf8(r.take(n)?)?);
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(utf8(r.take(n)?)?);
            }
            0x8d => {
                let n = r.u64le()?;
                stack.push(utf8(r.take(n)?)?);
            }
            b'C' | b'U' => {
                let n = r.u8()? as usize;
                stack.push(Py::Bytes(r.take(n)?.to_vec()));
            }
            b'B' | b'T' => {
                let n = r.u32le()?;
                stack.push(Py::Bytes(r.take(n)?.to_vec()));
            }
            0x8e => {
                let n = r.u64le()?;
                stack.push(Py::Bytes(r.take(n)?.to_vec()));
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Py::Global(Rc::new((module, name))));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (&module, &name) {
                    (Py::Str(m), Py::Str(n)) => stack.push(Py::Global(Rc::new((m.clone(), n.clone())))),
                    _ => return Err("pickle STACK_GLOBAL expects two strings".into()),
                }
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let object = Py::Object(Rc::new(PyObject { callable, args, state: RefCell::new(None) }));
                containers.push(object.clone());
                stack.push(object);
            }
            b'b' => {
                let state = pop(&mut stack)?;
                match top(&stack)? {
                    Py::Object(obj) => *obj.state.borrow_mut() = Some(state),
                    other => return Err(format!("pickle BUILD target is not an object but {}", other.kind())),
                }
            }
            b'q' => {
                let idx = r.u8()? as usize;
                put(&mut memo, idx, top(&stack)?.clone())?;
            }
            b'r' => {
                let idx = r.u32le()?;
                put(&mut memo, idx, top(&stack)?.clone())?;
            }
            0x94 => {
                let idx = memo.len();
                put(&mut memo, idx, top(&stack)?.clone())?;
            }
            b'h' | b'j' => {
                let idx = if op == b'h' { r.u8()? as usize } else { r.u32le()? };
                let value = memo
                    .get(idx)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| format!("pickle refers to unknown memo entry {idx}"))?;
                stack.push(value);
            }
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack, &mut marks)?;
            }
            b'2' => {
                let v = top(&stack)?.clone();
                stack.push(v);
            }
            other => {
                return Err(format!("unsupported pickle opcode 0x{other:02x} at offset {at}"));
            }
        }
    }
}

/// The elements of a pickled NumPy object `ndarray` (flattened, C order) and its shape.
///
/// NumPy pickles an array as `_reconstruct(ndarray, (0,), b'b')` followed by `BUILD` with the state
/// `(version, shape, dtype, is_fortran, items)`; for object arrays `items` is a plain list.
pub fn ndarray_items(value: &Py) -> Result<(Vec<usize>, Vec<Py>), String> {
    let Py::Object(obj) = value else { return Err("pickle does not hold a NumPy array".into()) };
    let state = obj.state.borrow();
    let Some(Py::Tuple(fields)) = state.as_ref() else {
        return Err("pickled NumPy array has no (version, shape, dtype, fortran, data) state".into());
    };
    if fields.len() != 5 {
        return Err(format!("pickled NumPy array state has {} fields, expected 5", fields.len()));
    }
    let shape = match &fields[1] {
        Py::Tuple(dims) => dims
            .iter()
            .map(|d| match d {
                Py::Int(v) if *v >= 0 => Ok(*v as usize),
                other => Err(format!("bad dimension {} in pickled array shape", other.kind())),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(format!("pickled array shape is not a tuple: {}", other.kind())),
    };
    let items = match &fields[4] {
        Py::List(items) => items.borrow().clone(),
        Py::Bytes(_) => return Err("pickled array holds raw numeric bytes, not Python objects".into()),
        other => return Err(format!("pickled array data is neither a list nor bytes: {}", other.kind())),
    };
    if Some(items.len()) != shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        return Err(format!("pickled array has shape {shape:?} but {} elements", items.len()));
    }
    Ok((shape, items))
}

/// A Python list (or tuple) of ints as i64s.
pub fn int_list(value: &Py) -> Result<Vec<i64>, String> {
    let convert = |items: &[Py]| {
        items
            .iter()
            .map(|v| match v {
                Py::Int(i) => Ok(*i),
                other => Err(format!("expected an int in the sequence, found {}", other.kind())),
            })
            .collect()
    };
    match value {
        Py::List(items) => convert(&items.borrow()),
        Py::Tuple(items) => convert(items),
        other => Err(format!("expected a list of ints, found {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(parts: &[&str]) -> Vec<u8> {
        let hex: String = parts.concat();
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    /// What CPython's pickler writes (protocols 2 and 4) for an object with NumPy's `ndarray.__reduce__`
    /// shape holding `[[1, 14, 22, 70000, 2**40, -3], [], s, s]` with `s = [7, 8]` shared.
    const PROTOCOL_2: &[&str] = &[
        "8002636e756d70792e636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7100636e756d70790a6e",
        "6461727261790a71014b00857102635f636f646563730a656e636f64650a7103580100000062710458060000006c6174",
        "696e317105867106527107877108527109284b014b0485710a636e756d70790a64747970650a710b58020000004f3871",
        "0c898887710d52710e284b0358010000007c710f4e4e4e4affffffff4affffffff4b3f74711062895d7111285d711228",
        "4b014b0e4b164a701101008a060000000000014afdffffff655d71135d7114284b074b0865681465747115622e",
    ];
    const PROTOCOL_4: &[&str] = &[
        "800495b1000000000000008c156e756d70792e636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563",
        "749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b04859468038c0564",
        "747970659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f749462895d94285d",
        "94284b014b0e4b164a701101008a060000000000014afdffffff655d945d94284b074b08656815657494622e",
    ];

    #[test]
    fn reads_cpython_object_array_pickles() {
        for fixture in [PROTOCOL_2, PROTOCOL_4] {
            let value = parse(&unhex(fixture)).unwrap();
            let (shape, items) = ndarray_items(&value).unwrap();
            assert_eq!(shape, vec![4]);
            let lists: Vec<Vec<i64>> = items.iter().map(|i| int_list(i).unwrap()).collect();
            assert_eq!(lists, vec![vec![1, 14, 22, 70000, 1 << 40, -3], vec![], vec![7, 8], vec![7, 8]]);
        }
    }

    #[test]
    fn malformed_streams_are_errors() {
        let full = unhex(PROTOCOL_4);
        for cut in [1, 20, 100, full.len() - 1] {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(&[0x80, 9]).unwrap_err().contains("protocol 9"));
        assert!(parse(b"e.").is_err());
        assert!(parse(&[b'h', 5, b'.']).unwrap_err().contains("memo entry 5"));
        assert!(parse(b"I").unwrap_err().contains("opcode 0x49"));
        assert!(parse(&[b']', b'r', 0, 0, 0, 1, b'.']).unwrap_err().contains("memo index 16777216"));
    }

    #[test]
    fn deeply_nested_tuples_parse_and_drop_without_recursion() {
        // `()` wrapped in 200,000 one-tuples: about 200 KB of pickle.
        let mut bytes = vec![b')'];
        bytes.extend(std::iter::repeat_n(0x85, 200_000));
        bytes.push(b'.');
        let value = parse(&bytes).unwrap();
        assert_eq!(value.kind(), "tuple");
        assert!(int_list(&value).unwrap_err().contains("found tuple"));
        drop(value);
    }

    #[test]
    fn reference_cycles_are_refused_or_freed() {
        // EMPTY_LIST, DUP, APPEND: a list that contains itself.
        let err = parse(&[0x80, 2, b']', b'2', b'a', b'.']).unwrap_err();
        assert!(err.contains("reference cycle"), "{err}");
        // Through a dict and the memo: d = {}; l = [d]; d[0] = l.
        let err = parse(&[0x80, 2, b'}', b'q', 0, b']', b'h', 0, b'a', b'q', 1, b'h', 0, b'K', 0, b'h', 1, b's', b'.'])
            .unwrap_err();
        assert!(err.contains("reference cycle"), "{err}");
        // A cycle that is popped: the result is fine, and the cycle is emptied.
        let value = parse(&[0x80, 2, b']', b'2', b'a', b'0', b'N', b'.']).unwrap();
        assert!(matches!(value, Py::None));
        // A list shared twice is not a cycle.
        let shared = parse(&[0x80, 2, b']', b'q', 0, b'h', 0, b'h', 0, 0x86, b'.']).unwrap();
        assert!(matches!(shared, Py::Tuple(_)));
    }

    #[test]
    fn lists_nested_through_the_memo_drop_without_recursion() {
        // L0 = []; then for each k: push L(k) from the memo, append a new
        // list L(k+1) to it, pop it. The stack stays shallow while the
        // value's depth grows by one per step.
        let n: u32 = 100_000;
        let mut bytes = vec![b']', b'r', 0, 0, 0, 0, b'('];
        for k in 0..n {
            bytes.push(b'j');
            bytes.extend(k.to_le_bytes());
            bytes.extend([b']', b'r']);
            bytes.extend((k + 1).to_le_bytes());
            bytes.extend([b'a', b'0']);
        }
        bytes.extend([b'1', b'.']);
        let value = parse(&bytes).unwrap();
        assert_eq!(value.kind(), "list");
    }
}
