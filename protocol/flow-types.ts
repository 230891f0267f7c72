/**
 * How a flow's types reach a client without its code: a flow carries a type-only `types` field,
 * and these helpers read it structurally, so the client SDK needs no import of the engine (a
 * type-only import of the flow's own module is all an application writes).
 */

/** The types a flow carries, readable with `FlowTypes<typeof flow>` through a type-only import. */
export interface FlowTypeInfo<I = unknown, S = unknown, R = unknown> {
  input: I
  stream: S
  result: R
}

/** The input, stream item and result types of a flow: `FlowTypes<typeof flow>['stream']`. */
export type FlowTypes<F> = F extends { readonly types: infer T extends FlowTypeInfo } ? T : FlowTypeInfo
