/** A handler module whose init fails, as one with missing configuration does. */
throw new Error('missing configuration');

export async function handler(): Promise<void> {}
