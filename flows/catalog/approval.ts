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
    await data.putIntoStream(
      amount === undefined ? { type: 'request', request } : { type: 'request', request, amount },
    )
    return data.pauseFor({
      type: 'approval',
      payload: { request, amount, question: `Approve "${request}"?` },
      resumeEvent: 'approval_answered',
      answer: approvalAnswer,
    })
  })
  const decide = flow.chunk<z.output<typeof approvalAnswer>>('decide', async (data) => {
    const { approved, note } = data.value
    return {
      request: data.input.request,
      approved,
      ...(note === undefined ? {} : { note }),
      status: approved ? ('approved' as const) : ('rejected' as const),
    }
  })
  // The resume event reaches handlers beside the chain, as in TriggerFlow.
  flow.when('approval_answered').to(async (data) => {
    const { approved, note } = data.value as z.output<typeof approvalAnswer>
    await data.putIntoStream(
      note === undefined ? { type: 'decision', approved } : { type: 'decision', approved, note },
    )
  })
  flow.to(ask).to(decide)
  return flow
}
