// CloudWatch metric math, as far as scaling policies use it: arithmetic, comparisons, AND/OR, IF, FILL, CEIL,
// FLOOR, ABS, MIN/MAX of two values. No library evaluates CloudWatch's expression language, and the bench must run
// the expression the template holds, so this small recursive-descent evaluator is hand-written.
//
// A value is a number or undefined (no datapoint). Any operation on undefined, and a division by zero, gives
// undefined: CloudWatch drops such datapoints, so an alarm on them sees missing data.

export type Value = number | undefined;
type Node =
  | { kind: 'num'; value: number }
  | { kind: 'id'; name: string }
  | { kind: 'neg'; arg: Node }
  | { kind: 'bin'; op: string; left: Node; right: Node }
  | { kind: 'call'; fn: string; args: Node[] };

const TOKEN = /\s*(\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|>=|<=|==|!=|[-+*/(),<>])/y;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const match = TOKEN.exec(source);
    if (!match) throw new Error(`metric math: cannot read "${source.slice(TOKEN.lastIndex)}" in ${source}`);
    tokens.push(match[1]!);
  }
  return tokens;
}

/** Parses a CloudWatch metric math expression once; the result evaluates it against named values. */
export function compile(source: string): (values: Readonly<Record<string, Value>>) => Value {
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t.toUpperCase() !== expected)) throw new Error(`metric math: expected ${expected ?? 'a token'} in ${source}`);
    return t;
  };
  const binary = (next: () => Node, ops: readonly string[]) => (): Node => {
    let left = next();
    while (peek() !== undefined && ops.includes(peek()!.toUpperCase())) {
      const op = take().toUpperCase();
      left = { kind: 'bin', op, left, right: next() };
    }
    return left;
  };
  const primary = (): Node => {
    const t = take();
    if (t === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (t === '-') return { kind: 'neg', arg: primary() };
    if (/^\d/.test(t)) return { kind: 'num', value: Number(t) };
    if (peek() === '(') {
      take('(');
      const args: Node[] = [];
      if (peek() !== ')') {
        args.push(or());
        while (peek() === ',') {
          take(',');
          args.push(or());
        }
      }
      take(')');
      return { kind: 'call', fn: t.toUpperCase(), args };
    }
    return { kind: 'id', name: t };
  };
  const mul = binary(primary, ['*', '/']);
  const add = binary(mul, ['+', '-']);
  const cmp = binary(add, ['>', '<', '>=', '<=', '==', '!=']);
  const and = binary(cmp, ['AND']);
  const or: () => Node = binary(and, ['OR']);
  const root = or();
  if (i !== tokens.length) throw new Error(`metric math: unexpected "${tokens[i]}" in ${source}`);
  return (values) => evaluate(root, values);
}

function evaluate(node: Node, values: Readonly<Record<string, Value>>): Value {
  switch (node.kind) {
    case 'num':
      return node.value;
    case 'id':
      if (!(node.name in values)) throw new Error(`metric math: unknown id ${node.name}`);
      return values[node.name];
    case 'neg': {
      const v = evaluate(node.arg, values);
      return v === undefined ? undefined : -v;
    }
    case 'bin': {
      const a = evaluate(node.left, values);
      const b = evaluate(node.right, values);
      if (a === undefined || b === undefined) return undefined;
      switch (node.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return b === 0 ? undefined : a / b;
        case '>': return Number(a > b);
        case '<': return Number(a < b);
        case '>=': return Number(a >= b);
        case '<=': return Number(a <= b);
        case '==': return Number(a === b);
        case '!=': return Number(a !== b);
        case 'AND': return Number(a !== 0 && b !== 0);
        case 'OR': return Number(a !== 0 || b !== 0);
      }
      throw new Error(`metric math: operator ${node.op}`);
    }
    case 'call': {
      const args = node.args.map((a) => evaluate(a, values));
      const [x, y, z] = args;
      switch (node.fn) {
        case 'FILL': return x ?? y;
        case 'IF': return x === undefined ? undefined : x !== 0 ? y : z;
        case 'CEIL': return x === undefined ? undefined : Math.ceil(x);
        case 'FLOOR': return x === undefined ? undefined : Math.floor(x);
        case 'ABS': return x === undefined ? undefined : Math.abs(x);
        case 'MAX': return x === undefined || y === undefined ? undefined : Math.max(x, y);
        case 'MIN': return x === undefined || y === undefined ? undefined : Math.min(x, y);
      }
      throw new Error(`metric math: function ${node.fn} is not modelled`);
    }
  }
}
