/**
 * What every running piece uses: logging within a budget, clipping caller
 * text, sleeping, background tasks, periodic work and in-process wake-ups.
 */
export { BackgroundTasks } from "./background-tasks.js";
export { clip, MAX_ID_CHARS, MAX_MESSAGE_CHARS } from "./clip.js";
export { LogBudget } from "./log-budget.js";
export { currentLogFields, type LogFields, withLogFields } from "./log-context.js";
export { logSink } from "./log-sink.js";
export { createLogger, type Logger } from "./logger.js";
export { Notifier } from "./notifier.js";
export { type RepeatOptions, repeatInTurn } from "./repeat-in-turn.js";
export { sleep } from "./sleep.js";
export { WorkerPool, WorkerPoolError } from "./worker-pool.js";
