/** Pauses for an `approval` interrupt and finishes with the answer it was given. */
import { z } from 'zod'
import { TriggerFlow } from '../triggerflow/flow.ts'

/** What an approver sends: a bare yes/no or `{ approved, note? }`. */
export const approvalAnswer = z.union([
  z.boolean().transform((approved): { approved: boolean; note?: string } => ({ approved })),
  z.object({ approved: z.boolean(), note: z.string().max(1000).optional() }),
])

export const approvalStream = z.union([
  z.object({ type: z.literal('request'), request: z.string(), amount: z.number().optional() }),
  z.object({ type: z.literal('decision'), approved: z.boolean(), note: z.string().optional() }),
])

/** Builds the `approval` flow. */
export function approvalFlow() {
  const flow = new TriggerFlow({
    name: 'approval',
    description: 'Pauses until an admin approves or rejects the request.',
    exampleInput: { request: 'Deploy v2 to production', amount: 120 },
    contract: {
      input: z.object({ request: z.string().min(1).max(500), amount: z.number().nonnegative().optional() }),
      // Interrupt items are the engine's own and are not checked against this.
      stream: approvalStream,
      result: z.object({
        request: z.string(),
        approved: z.boolean(),
        note: z.string().optional(),
        status: z.enum(['approved', 'rejected']),
      }),
    },
  })
  const ask = flow.chunk('ask', async (data) => {
    const { request, amount } = data.input
    data.state.set('request', request)
    await data.putIntoStream(
      amount === undefined ? { type: 'request', request } : { type: 'request', request, amount },
    )
    // Parks this branch; the checked answer becomes this chunk's output, so `decide` gets it.
    return data.pauseFor({
      type: 'approval',
      payload: { request, amount, question: `Approve "${request}"?` },
      resumeTo: 'next',
      answer: approvalAnswer,
    })
  })
  const decide = flow.chunk<z.output<typeof approvalAnswer>>('decide', async (data) => {
    const { approved, note } = data.value
    await data.putIntoStream(
      note === undefined ? { type: 'decision', approved } : { type: 'decision', approved, note },
    )
    return {
      request: data.state.get<string>('request') ?? '',
      approved,
      ...(note === undefined ? {} : { note }),
      status: approved ? ('approved' as const) : ('rejected' as const),
    }
  })
  flow.to(ask).to(decide).end()
  return flow
}
