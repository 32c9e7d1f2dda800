/** Account schemas: the signup and update bodies, and the user object the API returns. */
import { Type, type Static } from 'typebox'
import { Id, Timestamp } from '../../http/schemas.js'

export const USERNAME_PATTERN = '^[A-Za-z0-9_]{3,50}$'
export const PHONE_PATTERN = '^\\+[1-9][0-9]{1,14}$'

export const Username = Type.String({ minLength: 3, maxLength: 50, pattern: USERNAME_PATTERN })
export const Email = Type.String({ format: 'email', maxLength: 254 })
const Password = Type.String({ minLength: 1, maxLength: 1024 })
export const Phone = Type.String({
  pattern: PHONE_PATTERN,
  description: 'E.164, e.g. +14155550123',
})
const NationalId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 -]+$' })
const RoleName = Type.Union([Type.Literal('viewer'), Type.Literal('user'), Type.Literal('admin')])

export const SignupBody = Type.Object(
  { username: Username, email: Email, password: Password, phone: Type.Optional(Phone) },
  { additionalProperties: false },
)
export type SignupBodyT = Static<typeof SignupBody>

export const UpdateUserBody = Type.Object(
  {
    email: Type.Optional(Email),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    password: Type.Optional(Password),
    current_password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    national_id: Type.Optional(Type.Union([NationalId, Type.Null()])),
    roles: Type.Optional(Type.Array(RoleName, { minItems: 1, maxItems: 3, uniqueItems: true })),
    is_active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateUserBodyT = Static<typeof UpdateUserBody>

export const User = Type.Object({
  id: Id,
  username: Type.String(),
  email: Type.String(),
  phone: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(RoleName),
  is_active: Type.Boolean(),
  mfa_enabled: Type.Boolean(),
  created_at: Timestamp,
  national_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
})
export type UserT = Static<typeof User>

export const SearchQuery = Type.Object(
  {
    q: Type.String({ minLength: 1, maxLength: 100 }),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }),
    ),
  },
  { additionalProperties: false },
)

export const UserSummary = Type.Object({ id: Id, username: Type.String() })
