/**
 * Independent components of the attacker's system for one suppression pattern.
 *
 * Guarantee: published cells are constants, so the attacker's feasible set is the product of the components' feasible
 * sets; every LP or witness over one component is exact for the whole release.
 */
import type { CellSystem } from './relations.ts';

class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[x] !== r) {
      const nx = this.parent[x]!;
      this.parent[x] = r;
      x = nx;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[ra] = rb;
  }
}

export interface Component {
  /** Suppressed global cells. */
  readonly cells: number[];
  /** Active relations (global ids) whose suppressed cells lie in this component. */
  readonly relations: number[];
}

/**
 * Split the attacker's system into independent components. Published cells are
 * constants, so a relation constrains only its suppressed cells; relations
 * without a suppressed cell carry no information about any unknown and are
 * dropped. Two suppressed cells are in the same component when a chain of
 * active relations links them; the feasible set is the product of the
 * components' feasible sets, so each component's LPs are exact on their own.
 */
export function components(sys: CellSystem, suppressed: Uint8Array): Component[] {
  const uf = new UnionFind(sys.cellCount);
  const active: number[] = [];
  sys.relations.forEach((r, ri) => {
    let first = -1;
    for (const c of r.cells) {
      if (!suppressed[c]) continue;
      if (first < 0) first = c;
      else uf.union(first, c);
    }
    if (first >= 0) active.push(ri);
  });
  const byRoot = new Map<number, Component>();
  for (let c = 0; c < sys.cellCount; c++) {
    if (!suppressed[c]) continue;
    const root = uf.find(c);
    let comp = byRoot.get(root);
    if (!comp) {
      comp = { cells: [], relations: [] };
      byRoot.set(root, comp);
    }
    comp.cells.push(c);
  }
  for (const ri of active) {
    const r = sys.relations[ri]!;
    for (const c of r.cells) {
      if (suppressed[c]) {
        byRoot.get(uf.find(c))!.relations.push(ri);
        break;
      }
    }
  }
  return [...byRoot.values()];
}
