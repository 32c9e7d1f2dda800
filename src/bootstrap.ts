/** The first admin: created from BOOTSTRAP_ADMIN_* at startup, only while no admin exists. */
import type { AppContext } from './context.js'
import { createAccount } from './modules/accounts/service.js'
import { hasAdmin } from './modules/accounts/store.js'
import type { BootstrapAdmin } from './config.js'

export async function ensureBootstrapAdmin(
  ctx: AppContext,
  admin: BootstrapAdmin | null,
): Promise<'created' | 'exists' | 'skipped'> {
  if (admin === null) return 'skipped'
  if (await hasAdmin(ctx.db)) return 'exists'
  const row = await createAccount(ctx, { ...admin, roles: ['admin'] })
  await ctx.events.record({
    type: 'user_created',
    outcome: 'success',
    userId: row.id,
    details: { via: 'bootstrap', roles: ['admin'] },
  })
  return 'created'
}
