export { startBalancer } from "../../src/bench/tcp-balancer.js";
