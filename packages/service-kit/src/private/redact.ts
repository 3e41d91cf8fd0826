// Configuration errors and start-up logs print what they found, but never a secret: a variable
// whose name says it holds one is described by its length only, and a URL loses its password.

const SECRET_NAME = /(SEED|SECRET|PASSWORD|TOKEN|KEY|HEADERS|CREDENTIAL)/;
const MAX_PRINTED_LENGTH = 80;

export function isSecretVariable(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** How a variable's raw value is printed in an error: quoted, shortened, secrets withheld. */
export function describeFoundValue(variable: string, raw: string | undefined): string {
  if (raw === undefined) return "nothing (the variable is unset)";
  if (isSecretVariable(variable)) return `a value of ${raw.length} characters (not printed: it is secret)`;
  const printable = redactUrlPassword(raw);
  return JSON.stringify(
    printable.length > MAX_PRINTED_LENGTH ? `${printable.slice(0, MAX_PRINTED_LENGTH)}…` : printable,
  );
}

/** Replaces the password of every URL in a (possibly comma-separated) list with `***`. */
export function redactUrlPassword(value: string): string {
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s,]*:)[^@/\s,]+@/gi, "$1***@");
}
