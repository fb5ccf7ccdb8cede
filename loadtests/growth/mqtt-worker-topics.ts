/** The command topic of storm device `device` (registry name `${namePrefix}-${device}`): shared by the worker and the curve. */
export const commandTopic = (namePrefix: string, device: number): string => `devices/${namePrefix}-${device}/cmd`;
